// Drives weir's pages through its recordings in headless Chromium.
//
//   node recordings.mjs BASE_URL USER PASSWORD APP/STREAM PLAY_ID DELETE_ID SCREENSHOT_DIR
//
// 1. /play/APP/STREAM: wait for the recordings list, click PLAY_ID, wait
//    until the video's currentTime passes 1 s, then seek to the middle
//    and wait until it plays on from there.
// 2. /console: log in, wait for DELETE_ID's row, read its size, click its
//    Delete button (the confirm dialog is accepted) and wait for the row
//    to go.
// Prints one JSON object to stdout:
//   {"listed", "played_s", "duration", "seeked", "seek_to", "seek_landed",
//    "console_size", "deleted", "errors"}
// Exit status 0 when every step ran (the Rust test judges the values).

import { chromium } from "playwright-core";

const [base, user, password, key, playId, deleteId, shots] = process.argv.slice(2);
if (!shots) {
  console.error("usage: node recordings.mjs BASE_URL USER PASSWORD APP/STREAM PLAY_ID DELETE_ID SCREENSHOT_DIR");
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
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});
const result = {
  listed: 0, played_s: 0, duration: null, seeked: false, seek_to: null, seek_landed: null,
  console_size: null, deleted: false, errors: [],
};
const watch = (page, name) => {
  page.on("pageerror", (err) => result.errors.push(`${name}: ${err}`));
  page.on("console", (msg) => {
    // The live player keeps asking for a stream that ended: expected 404s.
    if (msg.type() === "error" && !/404/.test(msg.text())) result.errors.push(`${name}: ${msg.text()}`);
  });
};

try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 1000 } });

  const player = await context.newPage();
  watch(player, "player");
  await player.goto(`${base}/play/${key}`);
  const entry = `#recordings button[data-id="${playId}"]`;
  await player.waitForSelector(entry, { timeout: 20000 });
  result.listed = await player.locator("#recordings button").count();
  await player.click(entry);
  await player.waitForFunction(() => document.getElementById("video").currentTime > 1, null, { timeout: 20000 });
  result.played_s = await player.evaluate(() => document.getElementById("video").currentTime);
  result.duration = await player.evaluate(() => document.getElementById("video").duration);
  // Seek to the middle, then it must play on from there.
  const target = Math.max(0.5, Math.min(result.duration, 6) / 2);
  result.seek_to = target;
  await player.evaluate((t) => new Promise((resolve) => {
    const v = document.getElementById("video");
    v.addEventListener("seeked", resolve, { once: true });
    v.currentTime = t;
  }), target);
  result.seek_landed = await player.evaluate(() => document.getElementById("video").currentTime);
  await player.waitForFunction(
    (t) => document.getElementById("video").currentTime > t + 0.3, target, { timeout: 15000 });
  result.seeked = Math.abs(result.seek_landed - target) < 0.5;
  await player.screenshot({ path: `${shots}/player-recording.png` });
  await player.close();

  const consolePage = await context.newPage();
  watch(consolePage, "console");
  consolePage.on("dialog", (d) => d.accept());
  await consolePage.goto(`${base}/console`);
  await consolePage.fill("#user", user);
  await consolePage.fill("#password", password);
  await consolePage.click("#login button[type=submit]");
  await consolePage.waitForSelector("#dashboard:not(.hidden)", { timeout: 15000 });
  const row = `#recordings tr[data-id="${deleteId}"]`;
  await consolePage.waitForSelector(row, { timeout: 15000 });
  result.console_size = await consolePage.textContent(`${row} td.size`);
  await consolePage.screenshot({ path: `${shots}/console-recordings.png`, fullPage: true });
  await consolePage.click(`${row} button.danger`);
  await consolePage.waitForFunction((sel) => !document.querySelector(sel), row, { timeout: 15000 });
  result.deleted = true;
} catch (e) {
  result.errors.push(String(e));
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
