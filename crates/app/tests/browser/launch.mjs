// What every browser test script shares: headless Chromium launched the
// same way, and page errors collected for the Rust test to judge.

import { chromium } from "playwright-core";

/** Headless Debian Chromium (or $CHROMIUM) with the flags every test needs, plus `extra`. */
export function launchChromium(extra = []) {
  return chromium.launch({
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
      ...extra,
    ],
  });
}

/** Records `page`'s uncaught errors and console errors into `errors`, prefixed with `name`. */
export function collectErrors(page, name, errors) {
  page.on("pageerror", (err) => errors.push(`${name}: ${err}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(`${name}: ${msg.text()}`);
  });
}

/** Logs into weir's console at `base` and waits for the dashboard. */
export async function loginConsole(page, base, user, password) {
  await page.goto(`${base}/console`);
  await page.fill("#user", user);
  await page.fill("#password", password);
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#dashboard:not(.hidden)", { timeout: 15000 });
}
