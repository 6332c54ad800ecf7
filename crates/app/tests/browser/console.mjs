// Drives weir's own pages in headless Chromium: the console and the player.
//
//   node console.mjs BASE_URL USER PASSWORD SCREENSHOT_DIR [APP/STREAM]
//
// 1. /console: log in, wait for the stream's row and its viewer count.
// 2. /play/APP/STREAM: wait until video.currentTime advances; screenshot.
// 3. Back in the console: preview the stream, screenshot, click the
//    stream's Kick button and wait for the row to go.
// Prints one JSON object to stdout:
//   {"logged_in", "viewers", "play_format", "play_advanced_s", "latency",
//    "pushes" (the cells of each row of the pushes table), "kicked", "errors"}
// Exit status 0 when every step ran (the Rust test judges the values).

import { collectErrors, launchChromium, loginConsole } from "./launch.mjs";

const [base, user, password, shots, key = "live/test"] = process.argv.slice(2);
if (!base || !user || !password || !shots) {
  console.error("usage: node console.mjs BASE_URL USER PASSWORD SCREENSHOT_DIR [APP/STREAM]");
  process.exit(2);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const browser = await launchChromium();
const result = { logged_in: false, viewers: null, play_format: null, play_advanced_s: 0, latency: null, pushes: [], kicked: false, errors: [] };
const watch = (page, name) => collectErrors(page, name, result.errors);

try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
  const consolePage = await context.newPage();
  watch(consolePage, "console");
  consolePage.on("dialog", (d) => d.accept());
  await loginConsole(consolePage, base, user, password);
  result.logged_in = await consolePage.isVisible("#logout");
  const row = `#streams tr[data-key="${key}"]`;
  await consolePage.waitForSelector(row, { timeout: 15000 });

  // The player page: plays by itself (muted autoplay) over fMP4/MSE.
  const player = await context.newPage();
  watch(player, "player");
  await player.goto(`${base}/play/${key}`);
  await player.waitForFunction(() => document.getElementById("video").currentTime > 0.5, null, { timeout: 30000 });
  const t0 = await player.evaluate(() => document.getElementById("video").currentTime);
  await sleep(4000);
  const t1 = await player.evaluate(() => document.getElementById("video").currentTime);
  result.play_advanced_s = t1 - t0;
  result.play_format = await player.evaluate(() => document.querySelector("#formats .active")?.textContent || null);
  result.latency = await player.evaluate(() => document.getElementById("latency").textContent);
  await player.screenshot({ path: `${shots}/player.png` });

  // The console counts the browser's player too; preview the stream.
  await sleep(2500);
  result.viewers = await consolePage.textContent(`${row} td.viewers`);
  result.pushes = await consolePage.$$eval("#pushes-section:not([hidden]) #pushes tr",
    (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  await consolePage.click(`${row} button:has-text("Preview")`);
  await consolePage.waitForFunction(() => document.getElementById("preview").currentTime > 0.5, null, { timeout: 30000 });
  await sleep(1500);
  await consolePage.screenshot({ path: `${shots}/console.png`, fullPage: true });
  await player.close();

  await consolePage.click(`${row} button.danger`);
  await consolePage.waitForFunction(
    (sel) => !document.querySelector(sel) || !document.querySelector(sel + " button.danger"),
    row,
    { timeout: 15000 },
  );
  result.kicked = true;
} catch (e) {
  result.errors.push(String(e));
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
