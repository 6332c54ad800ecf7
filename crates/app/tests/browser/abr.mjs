// hls.js ABR over a weir multivariant playlist in headless Chromium:
// plays the master playlist starting on its top variant (ABR on, as a
// player that remembered a fast connection), checks that the top variant
// plays, then throttles the page's network (DevTools network conditions)
// and waits for hls.js to switch down to the lowest variant. Prints one
// JSON line:
//   {"levels": [heights], "up": {height, after_s} | null (the top plays),
//    "down": {height, after_s} | null, "advanced_s", "errors"}
//
//   node abr.mjs MASTER_URL KBITS UP_TIMEOUT_S DOWN_TIMEOUT_S
//
// Exit status 0 when it ran; the Rust test judges the result.

import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = fileURLToPath(new URL(".", import.meta.url));
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript" };
const [src, kbitsArg, upArg, downArg] = process.argv.slice(2);
const kbits = Number(kbitsArg);
const upTimeout = Number(upArg) * 1000;
const downTimeout = Number(downArg) * 1000;
if (!src || !(kbits > 0) || !(upTimeout > 0) || !(downTimeout > 0)) {
  console.error("usage: node abr.mjs MASTER_URL KBITS UP_TIMEOUT_S DOWN_TIMEOUT_S");
  process.exit(2);
}

// The player page and hls.js from this directory, on an origin of their
// own (weir's media CORS is exercised, as on a real site).
const server = createServer(async (req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname));
  if (path.includes("..")) {
    res.writeHead(400).end();
    return;
  }
  try {
    const body = await readFile(join(here, path));
    res.writeHead(200, { "content-type": TYPES[extname(path)] || "application/octet-stream" });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--autoplay-policy=no-user-gesture-required"],
});
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const result = { levels: [], up: null, down: null, advanced_s: 0, errors: [] };
try {
  const page = await browser.newPage();
  page.on("pageerror", (err) => result.errors.push(String(err)));
  // hls.js sorts variants by bit rate: the top one is the last.
  await page.goto(`${origin}/player.html?kind=hls&start_level=2&src=${encodeURIComponent(src)}`);
  // The player page keeps its hls.js instance in `state.hls`; the height
  // of the level playing now is what a viewer sees.
  const now = () => page.evaluate(() => {
    const hls = state.hls;
    const video = document.querySelector("video");
    const level = hls && hls.levels[hls.currentLevel];
    return {
      levels: hls ? hls.levels.map((l) => l.height) : [],
      height: level ? level.height : null,
      time: video ? video.currentTime : 0,
      errors: state.errors,
    };
  });
  const wait = async (timeout, done) => {
    const t0 = Date.now();
    while (Date.now() - t0 < timeout) {
      const s = await now();
      if (s.errors.length) return null;
      if (done(s)) return { height: s.height, after_s: (Date.now() - t0) / 1000 };
      await sleep(250);
    }
    return null;
  };
  const start = await wait(30000, (s) => s.levels.length > 0 && s.time > 0);
  const first = await now();
  result.levels = first.levels;
  if (start) {
    const top = Math.max(...first.levels);
    const bottom = Math.min(...first.levels);
    result.up = await wait(upTimeout, (s) => s.height === top);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 40,
      downloadThroughput: (kbits * 1000) / 8,
      uploadThroughput: (kbits * 1000) / 8,
    });
    const before = (await now()).time;
    result.down = await wait(downTimeout, (s) => s.height === bottom);
    result.advanced_s = (await now()).time - before;
  }
  result.errors.push(...(await now()).errors);
} finally {
  console.log(JSON.stringify(result));
  await browser.close();
  server.close();
}
