// The portal inside an RMM console's frame, over https, signed in with KaseyaOne: a portal of its
// own behind a local TLS proxy (public URL https://127.0.0.1:…), the provider emulator's pages
// behind another (its back channel stays plain http on loopback), and a console page on
// https://localhost:… that frames the instance's login page. The Superuser lists the console under
// Settings → Security → Embedding and sets KaseyaOne up; a technician then logs in inside the
// frame — start, provider login, form_post answer, session cookie — and sees the Dashboard there.
import { ChildProcess, spawn } from "node:child_process";
import type { Server } from "node:https";
import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { PORT } from "../playwright.config";
import { launchServer } from "../server";
import { createInstance, hydrated, signIn } from "./portal";
import { testCertificate, tlsPage, tlsProxy } from "./tls";

const PORTAL_HTTP = PORT + 90;
const PORTAL = `https://127.0.0.1:${PORT + 91}`;
const CONSOLE = `https://localhost:${PORT + 92}`;
const PROVIDER_FRONT = `https://127.0.0.1:${PORT + 93}`;
const PROVIDER_HTTP = PORT + 94;
const PROVIDER = `http://127.0.0.1:${PROVIDER_HTTP}`;
const OWNER = { homerealm: "tessier", email: "owner@tessier.example", password: "Tessier-Owner-77" };
const TECH = { username: "tech@tessier.example", company: "Backplane MSP", password: "emulator-password", code: "123456" };

test.use({ baseURL: PORTAL, ignoreHTTPSErrors: true });

let portal: ChildProcess | undefined;
let provider: ChildProcess | undefined;
let dataDir = "";
const servers: Server[] = [];

test.beforeAll(async () => {
  const certificate = testCertificate();
  provider = spawn(
    path.resolve(__dirname, "../../target/debug/emulators"),
    ["oidc", "--listen", `127.0.0.1:${PROVIDER_HTTP}`, "--front-channel", PROVIDER_FRONT,
      "--redirect-uri", `${PORTAL}/sso/callback`, "--post-logout-uri", `${PORTAL}/login`, "--username", TECH.username],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    provider!.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("listening") && resolve());
    provider!.on("exit", (code) => reject(new Error(`the oidc emulator exited with ${code}`)));
  });
  const launched = await launchServer(PORTAL_HTTP, { BACKPLANE_PUBLIC_URL: PORTAL });
  portal = launched.child;
  dataDir = launched.dataDir;
  servers.push(await tlsProxy(certificate, PORT + 91, PORTAL_HTTP));
  servers.push(await tlsProxy(certificate, PORT + 93, PROVIDER_HTTP));
  servers.push(await tlsPage(certificate, PORT + 92, `<!doctype html><html lang="en"><head><title>RMM console</title></head>
<body><h1>RMM console</h1><iframe title="Backplane" src="${PORTAL}/login?homerealm=${OWNER.homerealm}" width="1200" height="800"></iframe></body></html>`));
});

test.afterAll(async () => {
  for (const server of servers) server.close();
  provider?.kill();
  try {
    process.kill(-portal!.pid!, "SIGTERM");
  } catch {
    // already gone
  }
});

test("inside a console's frame over https, a technician logs in with KaseyaOne", async ({ page, browser }) => {
  const secret = createInstance(OWNER, "Tessier", dataDir);
  await signIn(page, OWNER, secret);

  await test.step("the Superuser lets the console frame the instance and sets KaseyaOne up", async () => {
    await page.goto("/settings/security");
    await hydrated(page);
    const embedding = page.getByRole("form", { name: "Embedding" });
    await embedding.getByLabel("Origins allowed to embed this instance").fill(CONSOLE);
    await embedding.getByRole("button", { name: "Save" }).click();
    await expect(embedding.getByRole("status")).toHaveText("Embedding saved.");
    await page.goto("/settings/integrations");
    await hydrated(page);
    const card = page.getByTestId("sso-kaseyaone");
    await card.getByLabel("Issuer URL").fill(PROVIDER);
    await card.getByLabel("Client ID").fill("backplane");
    await card.getByLabel("Client secret").fill("emulator-secret");
    await card.getByLabel("Create users at their first sign-in").check();
    await card.getByRole("button", { name: "Test & Save" }).click();
    await expect(card.getByTestId("sso-status")).toHaveText("Optional — 0 linked user(s)");
  });

  await test.step("in the console, the framed login page signs in through KaseyaOne and shows the Dashboard", async () => {
    const technician = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    await technician.goto(CONSOLE);
    const frame = technician.frameLocator('iframe[title="Backplane"]');
    await expect(frame.getByText(`Homerealm ${OWNER.homerealm}`)).toBeVisible();
    await frame.getByRole("link", { name: "Log in with KaseyaOne" }).click();
    await frame.getByLabel("Username").fill(TECH.username);
    await frame.getByLabel("Company").fill(TECH.company);
    await frame.getByLabel("Password").fill(TECH.password);
    await frame.getByRole("button", { name: "Log In" }).click();
    await frame.getByLabel("Verification code").fill(TECH.code);
    await frame.getByRole("button", { name: "Verify" }).click();
    await expect(frame.getByRole("heading", { name: "Dashboard" })).toBeVisible();
    await expect(technician.getByRole("heading", { name: "RMM console" })).toBeVisible();
    await frame.getByLabel("User menu").click();
    await expect(frame.getByText("Monitor · Tessier")).toBeVisible();
  });
});
