// Browser test of weir's chat client (/chat.js), driven by chat_e2e.rs.
//
//   node chat.spec.mjs http://127.0.0.1:WEIR_PORT
//
// Serves chat.html from a static server on its own port (so the page and
// weir are different origins), opens it twice (alice and bob), types a
// message in one and waits for it to fly across the other's video as
// danmaku; checks the danmaku toggle. Then prints RESTART: the Rust test
// kills weir and starts it again on the same port, and both pages must
// reconnect by themselves and chat again. Prints PASS and exits 0 on
// success; any failure throws (exit status 1) with the reason on stderr.

import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = fileURLToPath(new URL(".", import.meta.url));
const weir = process.argv[2];
if (!weir) {
  console.error("usage: node chat.spec.mjs http://127.0.0.1:PORT");
  process.exit(2);
}

const server = createServer(async (req, res) => {
  if (new URL(req.url, "http://x").pathname !== "/chat.html") {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "content-type": "text/html" });
  res.end(await readFile(join(here, "chat.html")));
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (...a) => console.error(new Date().toISOString(), ...a);

async function until(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}

async function open(nick) {
  const page = await browser.newPage();
  page.on("pageerror", (e) => log(nick, "page error:", String(e)));
  page.on("console", (m) => { if (m.type() === "error") log(nick, "console:", m.text()); });
  await page.goto(`${origin}/chat.html?weir=${encodeURIComponent(weir)}&nick=${nick}`);
  return page;
}

const connected = (page) => page.evaluate(() => window.chat && window.chat.state === "connected");

async function say(page, text) {
  await page.fill("#say", text);
  await page.press("#say", "Enter");
}

// A danmaku with `text` is flying in the page's danmaku layer.
const flying = (page, text) =>
  page.evaluate((t) => [...document.querySelectorAll(".weir-danmaku span")]
    .some((s) => s.textContent === t && s.getAnimations().length > 0), text);
const listed = (page, text) =>
  page.evaluate((t) => [...document.querySelectorAll("#chat .msg")].some((r) => r.textContent.endsWith(t)), text);

try {
  const alice = await open("alice");
  const bob = await open("bob");
  await until("both pages connected", async () => (await connected(alice)) && (await connected(bob)), 15000);
  log("connected");

  await say(alice, "hello danmaku");
  await until("bob sees alice's danmaku", () => flying(bob, "hello danmaku"), 5000);
  await until("bob lists alice's message", () => listed(bob, "hello danmaku"), 5000);
  await until("alice sees her own danmaku", () => flying(alice, "hello danmaku"), 5000);
  log("danmaku delivered");

  await bob.evaluate(() => window.chat.toggleDanmaku(false));
  await say(alice, "while hidden");
  await until("bob lists the hidden one", () => listed(bob, "while hidden"), 5000);
  if (await flying(bob, "while hidden")) throw new Error("danmaku shown while toggled off");
  await bob.evaluate(() => window.chat.toggleDanmaku(true));

  console.log("RESTART");
  await until("pages notice the server is gone", async () =>
    !(await connected(alice)) && !(await connected(bob)), 20000);
  log("disconnected; waiting for reconnect");
  await until("both pages reconnected by themselves", async () =>
    (await connected(alice)) && (await connected(bob)), 60000);
  log("reconnected");

  await say(bob, "back again");
  await until("alice sees bob's danmaku after the restart", () => flying(alice, "back again"), 5000);
  const states = await alice.evaluate(() => window.states);
  log("alice's states:", states.join(" "));
  console.log("PASS");
} finally {
  await browser.close();
  server.close();
}
