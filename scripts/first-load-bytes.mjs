// Loads a page of a running portal in Chromium with an empty cache and prints the bytes that
// crossed the network (compressed bodies plus headers), by resource.
// Usage: node scripts/first-load-bytes.mjs http://127.0.0.1:3000/login
// (run from the repository root after `scripts/tools.sh e2e`; it uses end2end's Playwright)
import { createRequire } from "node:module";
const require = createRequire(new URL("../end2end/package.json", import.meta.url));
const { chromium } = require("@playwright/test");

const url = process.argv[2] ?? "http://127.0.0.1:3000/login";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const page = await browser.newPage();
const cdp = await page.context().newCDPSession(page);
await cdp.send("Network.enable");
await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
const urls = new Map();
const sizes = new Map();
cdp.on("Network.responseReceived", (e) => urls.set(e.requestId, e.response.url));
cdp.on("Network.loadingFinished", (e) => sizes.set(e.requestId, e.encodedDataLength));
await page.goto(url, { waitUntil: "networkidle" });
await page.locator("body[data-hydrated=true]").waitFor({ state: "attached", timeout: 60_000 });
let total = 0;
for (const [id, bytes] of sizes) {
  total += bytes;
  console.log(`${String(bytes).padStart(10)}  ${urls.get(id) ?? id}`);
}
console.log(`${String(total).padStart(10)}  in all`);
await browser.close();
