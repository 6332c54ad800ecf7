// What any website a visitor opens could read from weir.
//
//   node cors.mjs WEIR_BASE PATH [PATH ...]
//
// Serves a blank page from a static server on a free loopback port (an
// origin other than weir's, as a hostile site on the visitor's machine or
// LAN would be), opens it in headless Chromium and, for each PATH, lets
// the page fetch(WEIR_BASE + PATH) as a script on that site would. Prints
// one JSON line per path: {"path", "read", "status", "error"}: `read` is
// whether the page got the response body (CORS allowed it).

import { createServer } from "node:http";
import { chromium } from "playwright-core";

const [base, ...paths] = process.argv.slice(2);
if (!base || paths.length === 0) {
  console.error("usage: node cors.mjs WEIR_BASE PATH [PATH ...]");
  process.exit(2);
}

const server = createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>elsewhere</title>");
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
});
try {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  for (const path of paths) {
    const result = await page.evaluate(async (url) => {
      try {
        const r = await fetch(url);
        await r.text();
        return { read: true, status: r.status, error: null };
      } catch (e) {
        return { read: false, status: null, error: String(e) };
      }
    }, base + path);
    console.log(JSON.stringify({ path, ...result }));
  }
} finally {
  await browser.close();
  server.close();
}
