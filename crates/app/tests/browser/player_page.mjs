// Drives the player page's hls.js ways in headless Chromium.
//
//   node player_page.mjs BASE_URL APP/STREAM SCREENSHOT_DIR
//
// Opens /play/APP/STREAM without ?via (a stream with a transcoding ladder
// starts on LL-HLS, its multivariant playlist), then:
// 1. waits until video.currentTime has advanced 2 s (bounded);
// 2. samples the page's "Behind live" value next to hls.latency;
// 3. reads the rendition picker and the shown rendition, pins the highest
//    level, then the lowest, each time waiting (bounded) until the page
//    shows it playing and the video has its height.
// Every request the page makes is recorded: none may leave BASE_URL's
// origin. Prints one JSON object to stdout:
//   {"format", "advanced_s", "hls_script", "hls_loaded", "foreign", "latencies",
//    "levels", "options", "rendition_auto", "rendition_highest", "pinned_to",
//    "rendition_pinned", "video_height", "hls_events", "errors"}
// Exit status 0 when every step ran (the Rust test judges the values).

import { chromium } from "playwright-core";

const [base, key, shots] = process.argv.slice(2);
if (!shots) {
  console.error("usage: node player_page.mjs BASE_URL APP/STREAM SCREENSHOT_DIR");
  process.exit(2);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});
const origin = new URL(base).origin;
const result = {
  format: null, advanced_s: 0, hls_script: null, hls_loaded: false, foreign: [], latencies: [],
  levels: 0, options: [], rendition_auto: null, rendition_highest: null, pinned_to: null, rendition_pinned: null,
  video_height: null, hls_events: [], errors: [],
};

try {
  const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
  page.on("pageerror", (err) => result.errors.push(String(err)));
  page.on("console", (msg) => {
    if (msg.type() === "error") result.errors.push(msg.text());
  });
  page.on("request", (req) => {
    const url = req.url();
    if (!url.startsWith("blob:") && !url.startsWith("data:") && new URL(url).origin !== origin) {
      result.foreign.push(url);
    }
  });
  await page.goto(`${base}/play/${key}`);
  const video = () => page.evaluate(() => document.getElementById("video").currentTime);
  await page.waitForFunction(() => document.getElementById("video").currentTime > 0.5, null, { timeout: 30000 });
  const t0 = await video();
  await page.waitForFunction((t) => document.getElementById("video").currentTime > t + 2, t0, { timeout: 15000 });
  result.advanced_s = (await video()) - t0;
  result.format = await page.evaluate(() => document.querySelector("#formats .active")?.dataset.via || null);
  result.hls_script = await page.evaluate(() =>
    [...document.scripts].map((s) => s.src).find((src) => /\/hls[^/]*\.js$/.test(src)) || null);
  result.hls_loaded = await page.evaluate(() => typeof window.Hls === "function" && window.weirHls instanceof window.Hls);
  // hls.js's level switches and errors from here on, to explain a failure.
  await page.evaluate(() => {
    window.hlsEvents = [];
    const t0 = performance.now();
    const note = (name, what) => window.hlsEvents.push(`${((performance.now() - t0) / 1000).toFixed(1)} ${name} ${what}`);
    weirHls.on(Hls.Events.LEVEL_SWITCHING, (_, d) => note("switching", d.level));
    weirHls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => note("switched", d.level));
    weirHls.on(Hls.Events.ERROR, (_, d) => note("error", `${d.details} fatal=${d.fatal} ${d.response ? d.response.code : ""} ${d.url || (d.frag && d.frag.url) || ""}`));
  });

  // The page's latency next to hls.js's own, every 500 ms for 3 s.
  for (let i = 0; i < 6; i++) {
    await sleep(500);
    result.latencies.push(await page.evaluate(() => ({
      page: document.getElementById("latency").textContent,
      hls: window.weirHls ? window.weirHls.latency : null,
    })));
  }

  // The renditions: wait for the shown one, then pin the lowest.
  await page.waitForFunction(() => /^\d+p/.test(document.getElementById("rendition").textContent), null, { timeout: 15000 });
  result.levels = await page.evaluate(() => window.weirHls.levels.length);
  result.options = await page.$$eval("#level option", (os) =>
    os.map((o) => ({ value: o.value, height: o.dataset.height ? Number(o.dataset.height) : null, text: o.textContent })));
  result.rendition_auto = await page.textContent("#rendition");
  // Pin the highest, then the lowest: both are real switches whatever
  // level ABR started on. Each is shown once hls.js plays it
  // (LEVEL_SWITCHED), not when asked.
  const byHeight = result.options.filter((o) => o.height).sort((a, b) => a.height - b.height);
  const pin = async (option) => {
    await page.selectOption("#level", option.value);
    await page.waitForFunction(
      (h) => document.getElementById("rendition").textContent.startsWith(`${h}p`) &&
        document.getElementById("video").videoHeight === h,
      option.height,
      { timeout: 20000 },
    ).catch((e) => result.errors.push(`pinned ${option.text} not shown: ${e}`));
    return page.textContent("#rendition");
  };
  if (byHeight.length > 1) {
    result.rendition_highest = await pin(byHeight[byHeight.length - 1]);
    result.pinned_to = byHeight[0].text;
    result.rendition_pinned = await pin(byHeight[0]);
    result.video_height = await page.evaluate(() => document.getElementById("video").videoHeight);
  }
  await page.screenshot({ path: `${shots}/player-llhls.png` });
  result.hls_events = await page.evaluate(() => window.hlsEvents.slice(-40));
} catch (e) {
  result.errors.push(String(e));
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
