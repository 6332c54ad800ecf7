// Plays weir streams in headless Chromium and reports how playback went.
//
//   node run.mjs SECONDS KIND=URL [KIND=URL ...]
//
// Serves this directory (player.html and the npm-installed players) from a
// static server on a free loopback port, so the pages and weir are on
// different origins as on a real site (CORS is exercised). For each case it
// opens player.html?kind=KIND&src=URL in its own page, waits for the first
// decoded frame, then measures SECONDS of playback. Cases run one after the
// other so that they do not compete for the CPU. Prints one JSON line per
// case to stdout:
//   {"kind", "startup_s", "seconds", "advanced_s", "frames", "fps",
//    "dropped", "latency_s", "latencies", "mime", "errors"}
// where "latencies" holds the player's latency sampled every 500 ms.
// Exit status 0 when every case ran (the Rust test judges the numbers).

import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = fileURLToPath(new URL(".", import.meta.url));
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript" };
const START_TIMEOUT_MS = 30000;

const [secondsArg, ...caseArgs] = process.argv.slice(2);
const seconds = Number(secondsArg);
if (!(seconds > 0) || caseArgs.length === 0) {
  console.error("usage: node run.mjs SECONDS KIND=URL [KIND=URL ...]");
  process.exit(2);
}

// Static files below this directory only.
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

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function runCase(kind, url) {
  const page = await browser.newPage();
  const consoleErrors = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") consoleErrors.push(msg.text());
  });
  page.on("pageerror", (err) => consoleErrors.push(String(err)));
  const opened = Date.now();
  await page.goto(`${origin}/player.html?kind=${kind}&src=${encodeURIComponent(url)}`);
  const sample = () => page.evaluate(() => window.weirTest.sample());
  let first = await sample();
  while (first.totalVideoFrames === 0 || first.currentTime === 0) {
    if (first.errors.length || Date.now() - opened > START_TIMEOUT_MS) break;
    await sleep(100);
    first = await sample();
  }
  const startup = (Date.now() - opened) / 1000;
  const t0 = Date.now();
  let last = first;
  const latencies = [];
  if (first.totalVideoFrames > 0 && first.errors.length === 0) {
    while (Date.now() - t0 < seconds * 1000) {
      await sleep(Math.min(500, seconds * 1000 - (Date.now() - t0)));
      last = await sample();
      if (typeof last.latency === "number") latencies.push(last.latency);
    }
  }
  const wall = (Date.now() - t0) / 1000;
  const frames = last.totalVideoFrames - first.totalVideoFrames;
  await page.close();
  return {
    kind,
    url,
    startup_s: startup,
    seconds: wall,
    advanced_s: last.currentTime - first.currentTime,
    frames,
    fps: wall > 0 ? frames / wall : 0,
    dropped: last.droppedVideoFrames,
    latency_s: last.latency,
    latencies,
    mime: last.mime,
    errors: [...last.errors, ...consoleErrors],
  };
}

try {
  for (const arg of caseArgs) {
    const eq = arg.indexOf("=");
    const result = await runCase(arg.slice(0, eq), arg.slice(eq + 1));
    console.log(JSON.stringify(result));
  }
} finally {
  await browser.close();
  server.close();
}
