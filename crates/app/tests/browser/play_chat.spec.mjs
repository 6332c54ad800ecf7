// Browser test of the chat panel on weir's own player page, driven by
// chat_e2e.rs while ffmpeg publishes live/STREAM.
//
//   node play_chat.spec.mjs http://127.0.0.1:WEIR_PORT STREAM
//
// Opens /play/live/STREAM twice, served with the page's strict
// Content-Security-Policy. Both must play the stream and connect the chat;
// a message typed in one page must fly across the other's video as danmaku
// and be listed in its panel; the danmaku button must hide the layer. Any
// CSP violation (a report event or a console message) or page error fails.
// Prints PASS and exits 0 on success; a failure throws (exit status 1).

import { chromium } from "playwright-core";

const [weir, stream] = process.argv.slice(2);
if (!weir || !stream) {
  console.error("usage: node play_chat.spec.mjs http://127.0.0.1:PORT STREAM");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--autoplay-policy=no-user-gesture-required",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (...a) => console.error(new Date().toISOString(), ...a);
const problems = [];

async function until(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}

async function open(name) {
  const page = await browser.newPage();
  // Record violations from the first script on, before the page's own.
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`));
  });
  page.on("pageerror", (e) => problems.push(`${name}: page error: ${e}`));
  page.on("console", (m) => {
    const text = m.text();
    if (/content security policy/i.test(text)) problems.push(`${name}: ${text}`);
    else if (m.type() === "error") log(name, "console:", text);
  });
  const resp = await page.goto(`${weir}/play/live/${encodeURIComponent(stream)}`);
  const csp = resp.headers()["content-security-policy"] || "";
  if (!/style-src 'self'/.test(csp) || !/connect-src 'self'/.test(csp)) {
    throw new Error(`the player page is not served with the strict policy: ${csp}`);
  }
  return page;
}

const connected = (page) => page.evaluate(() => window.weirChat && window.weirChat.state === "connected");
const playing = (page) => page.evaluate(() => {
  const v = document.getElementById("video");
  return v.readyState >= 2 && v.currentTime > 0;
});
// A danmaku with `text` is flying over the page's video.
const flying = (page, text) =>
  page.evaluate((t) => [...document.querySelectorAll(".screen .weir-danmaku span")]
    .some((s) => s.textContent === t && s.getAnimations().length > 0), text);
const listed = (page, text) =>
  page.evaluate((t) => [...document.querySelectorAll("#chat .msg")].some((r) => r.textContent.endsWith(t)), text);

try {
  const alice = await open("alice");
  const bob = await open("bob");
  await until("both pages connected to the chat", async () => (await connected(alice)) && (await connected(bob)), 20000);
  log("chat connected");
  await until("both pages play the live stream", async () => (await playing(alice)) && (await playing(bob)), 30000);
  log("playing");

  // The styles came from /chat.css (an injected <style> would be blocked).
  const styled = await bob.evaluate(() => {
    const layer = document.querySelector(".screen .weir-danmaku");
    const badge = document.getElementById("chat-state");
    return layer && getComputedStyle(layer).position === "absolute" &&
      badge.classList.contains("weir-chat-state") && getComputedStyle(badge).borderRadius !== "0px";
  });
  if (!styled) throw new Error("chat.css is not applied on the player page");

  await alice.fill("#say", "hello from the player page");
  await alice.press("#say", "Enter");
  await until("bob sees alice's danmaku over his video", () => flying(bob, "hello from the player page"), 5000);
  await until("bob lists alice's message", () => listed(bob, "hello from the player page"), 5000);
  log("danmaku delivered");

  await bob.click("#danmaku");
  const off = await bob.evaluate(() => ({
    hidden: document.querySelector(".screen .weir-danmaku").classList.contains("off"),
    pressed: document.getElementById("danmaku").getAttribute("aria-pressed"),
  }));
  if (!off.hidden || off.pressed !== "false") throw new Error(`danmaku button did not turn it off: ${JSON.stringify(off)}`);
  await alice.fill("#say", "while hidden");
  await alice.press("#say", "Enter");
  await until("bob lists the hidden one", () => listed(bob, "while hidden"), 5000);
  if (await flying(bob, "while hidden")) throw new Error("danmaku shown while toggled off");

  for (const [name, page] of [["alice", alice], ["bob", bob]]) {
    for (const v of await page.evaluate(() => window.cspViolations)) problems.push(`${name}: CSP: ${v}`);
  }
  if (problems.length) throw new Error(`problems on the player page:\n${problems.join("\n")}`);
  console.log("PASS");
} finally {
  await browser.close();
}
