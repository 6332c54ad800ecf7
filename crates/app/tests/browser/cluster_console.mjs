// weir's console on a node of a cluster, in headless Chromium.
//
//   node cluster_console.mjs BASE_URL USER PASSWORD NODES
//
// Logs in and waits (bounded) until the cluster table lists NODES nodes.
// Prints one JSON object to stdout: {"state", "nodes": [[cells of each
// row]], "pulls", "errors"}; exit status 0 when every step ran (the Rust
// test judges the values).

import { collectErrors, launchChromium, loginConsole } from "./launch.mjs";

const [base, user, password, nodes] = process.argv.slice(2);
if (!base || !user || !password || !nodes) {
  console.error("usage: node cluster_console.mjs BASE_URL USER PASSWORD NODES");
  process.exit(2);
}
const result = { state: null, nodes: [], pulls: null, errors: [] };
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  collectErrors(page, "console", result.errors);
  await loginConsole(page, base, user, password);
  await page.waitForFunction(
    (n) => document.querySelectorAll("#cluster-nodes tr").length === n && !document.getElementById("cluster-section").hidden,
    Number(nodes),
    { timeout: 20000 },
  );
  result.state = await page.textContent("#cluster-state");
  result.nodes = await page.$$eval("#cluster-nodes tr", (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  result.pulls = await page.textContent("#cluster-pulls");
} catch (e) {
  result.errors.push(`cluster_console: ${e}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
