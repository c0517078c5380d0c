// Loads a page of a running portal in Chromium with an empty cache and prints the bytes that
// crossed the network (compressed bodies plus headers), by resource.
// Usage: node scripts/first-load-bytes.mjs http://127.0.0.1:3000/login
// A signed-in page (the Dashboard, "/") needs an account: set BP_EMAIL, BP_PASSWORD and
// BP_TOTP_SECRET (and BP_HOMEREALM when the portal holds several instances); the sign-in is
// not counted, and the measured load starts with an empty cache.
// (run from the repository root after `scripts/tools.sh e2e`; it uses end2end's Playwright)
import { createRequire } from "node:module";
const require = createRequire(new URL("../end2end/package.json", import.meta.url));
const { chromium } = require("@playwright/test");
const { TOTP } = require("otpauth");

const url = process.argv[2] ?? "http://127.0.0.1:3000/login";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const context = await browser.newContext();
if (process.env.BP_EMAIL) await signIn(context, new URL("/login", url).href);
const page = await context.newPage();
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

async function signIn(context, loginUrl) {
  const page = await context.newPage();
  await page.goto(loginUrl);
  await page.locator("body[data-hydrated=true]").waitFor({ state: "attached", timeout: 60_000 });
  if (await page.getByLabel("Homerealm").isVisible()) {
    await page.getByLabel("Homerealm").fill(process.env.BP_HOMEREALM ?? "");
    await page.getByRole("button", { name: "Next" }).click();
  }
  await page.getByLabel("E-mail").fill(process.env.BP_EMAIL);
  await page.getByLabel("Password").fill(process.env.BP_PASSWORD);
  await page.getByRole("button", { name: "Log In" }).click();
  const totp = new TOTP({ secret: process.env.BP_TOTP_SECRET, digits: 6, period: 30, algorithm: "SHA1" });
  await page.getByLabel(/Code from your authenticator/).fill(totp.generate());
  await page.getByRole("button", { name: "Verify" }).click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor({ timeout: 30_000 });
  await page.close();
}
