// Single sign-on with KaseyaOne, against the OpenID Connect provider emulator (KaseyaOne's wire
// behaviour: username + company + password, then a 2FA code, the code posted back by form_post):
// a Superuser sets KaseyaOne up in Settings → Integrations; a technician opens the login page by
// its ?homerealm= link, logs in with KaseyaOne and is created as a Monitor; logging out ends the
// provider's session too; in Required mode the login page goes straight to KaseyaOne, while the
// bypass link keeps the local form for the listed exceptions only. (Every refusal — signature,
// audience, issuer, expiry, nonce, replay, another browser — is proven in identity/tests/oidc.rs.)
import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { expect, Page, test } from "@playwright/test";
import { PORT } from "../playwright.config";
import { createInstance, expectAccessible, hydrated, signIn } from "./portal";

const PROVIDER_PORT = PORT + 80;
const PROVIDER = `http://127.0.0.1:${PROVIDER_PORT}`;
const PORTAL = `http://127.0.0.1:${PORT}`;
const OWNER = { homerealm: "soylent", email: "owner@soylent.example", password: "Soylent-Owner-77" };
const TECH = { username: "tech@soylent.example", company: "Backplane MSP", password: "emulator-password", code: "123456" };

let provider: ChildProcess | undefined;

test.beforeAll(async () => {
  provider = spawn(
    path.resolve(__dirname, "../../target/debug/emulators"),
    ["oidc", "--listen", `127.0.0.1:${PROVIDER_PORT}`, "--redirect-uri", `${PORTAL}/sso/callback`,
      "--post-logout-uri", `${PORTAL}/login`, "--username", TECH.username],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    provider!.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("listening") && resolve());
    provider!.on("exit", (code) => reject(new Error(`the oidc emulator exited with ${code}`)));
  });
});

test.afterAll(() => {
  provider?.kill();
});

async function kaseyaOneCard(page: Page) {
  await page.goto("/settings/integrations");
  await hydrated(page);
  const card = page.getByTestId("sso-kaseyaone");
  await expect(card.getByLabel("Issuer URL")).toBeVisible();
  return card;
}

/** At the provider's pages: username, company and password, then the 2FA code. */
async function logInAtKaseyaOne(page: Page) {
  await expect(page).toHaveURL(new RegExp(`^${PROVIDER}/connect/authorize`));
  await page.getByLabel("Username").fill(TECH.username);
  await page.getByLabel("Company").fill(TECH.company);
  await page.getByLabel("Password").fill(TECH.password);
  await page.getByRole("button", { name: "Log In" }).click();
  await page.getByLabel("Verification code").fill(TECH.code);
  await page.getByRole("button", { name: "Verify" }).click();
}

test("KaseyaOne: set up, log in from the homerealm link, single logout, required mode", async ({ page, browser }) => {
  const secret = createInstance(OWNER, "Soylent");
  await signIn(page, OWNER, secret);

  await test.step("a Superuser sets KaseyaOne up; a provider that cannot be reached is named", async () => {
    const card = await kaseyaOneCard(page);
    await expect(card.getByLabel("Issuer URL")).toHaveValue("https://one.kaseya.com");
    await card.getByLabel("Issuer URL").fill(`http://127.0.0.1:${PORT + 89}`);
    await card.getByLabel("Client ID").fill("backplane");
    await card.getByLabel("Client secret").fill("emulator-secret");
    await card.getByRole("button", { name: "Test & Save" }).click();
    await expect(card.getByRole("alert")).toContainText("could not be reached");
    await card.getByLabel("Issuer URL").fill(PROVIDER);
    await card.getByLabel("Create users at their first sign-in").check();
    await card.getByRole("button", { name: "Test & Save" }).click();
    await expect(card.getByTestId("sso-status")).toHaveText("Optional — 0 linked user(s)");
    await expect(card.getByText(`${PORTAL}/sso/callback`)).toBeVisible();
    await expectAccessible(page, "Settings → Integrations with KaseyaOne");
  });

  const tech = await (await browser.newContext({ baseURL: PORTAL })).newPage();
  await test.step("a technician logs in with KaseyaOne from the homerealm link and is created as a Monitor", async () => {
    await tech.goto("/login?homerealm=soylent");
    await hydrated(tech);
    await expect(tech.getByText("Homerealm soylent")).toBeVisible();
    await expectAccessible(tech, "the login page with KaseyaOne");
    await tech.getByRole("link", { name: "Log in with KaseyaOne" }).click();
    await logInAtKaseyaOne(tech);
    await expect(tech.getByRole("heading", { name: "Dashboard" })).toBeVisible();
    await tech.getByLabel("User menu").click();
    await expect(tech.getByText("Monitor · Soylent")).toBeVisible();
  });

  await test.step("logging out ends the KaseyaOne session too", async () => {
    await tech.getByRole("menuitem", { name: "Log out" }).click();
    await expect(tech).toHaveURL(`${PORTAL}/login`);
    await hydrated(tech);
    await tech.goto("/login?homerealm=soylent");
    await hydrated(tech);
    await tech.getByRole("link", { name: "Log in with KaseyaOne" }).click();
    // No silent sign-in: the provider asks for the credentials again.
    await expect(tech.getByLabel("Username")).toBeVisible();
    await logInAtKaseyaOne(tech);
    await expect(tech.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  });

  await test.step("required: the login page goes straight to KaseyaOne; the bypass link is for exceptions", async () => {
    const card = await kaseyaOneCard(page);
    await card.getByLabel("Login mode").selectOption("required");
    await card.getByRole("button", { name: "Test & Save" }).click();
    await expect(card.getByRole("alert")).toContainText("lock yourself out");
    await card.getByLabel(/User exceptions/).fill(OWNER.email);
    await card.getByRole("button", { name: "Test & Save" }).click();
    await expect(card.getByTestId("sso-status")).toHaveText("Required — 1 linked user(s)");
    await expect(card.getByTestId("sso-bypass")).toHaveText(`${PORTAL}/login?homerealm=soylent&bypass=1`);

    const visitor = await (await browser.newContext({ baseURL: PORTAL })).newPage();
    await visitor.goto("/login?homerealm=soylent");
    await expect(visitor).toHaveURL(new RegExp(`^${PROVIDER}/connect/authorize`));
    await visitor.goto("/login?homerealm=soylent&bypass=1");
    await hydrated(visitor);
    await visitor.getByLabel("E-mail").fill("someone@soylent.example");
    await visitor.getByLabel("Password").fill("whatever-it-is-1");
    await visitor.getByRole("button", { name: "Log In" }).click();
    await expect(visitor.getByRole("alert")).toContainText("This instance signs in with KaseyaOne");
    await visitor.getByLabel("E-mail").fill(OWNER.email);
    await visitor.getByLabel("Password").fill(OWNER.password);
    await visitor.getByRole("button", { name: "Log In" }).click();
    await expect(visitor.getByLabel(/Code from your authenticator/)).toBeVisible();
  });

  await test.step("a sign-in that came back refused says why on the login page", async () => {
    const visitor = await (await browser.newContext({ baseURL: PORTAL })).newPage();
    await visitor.goto("/login?homerealm=soylent&bypass=1&sso_error=no_user");
    await hydrated(visitor);
    await expect(visitor.getByTestId("sso-error")).toHaveText(
      "No user of this instance has your e-mail address. Ask an administrator to add you.",
    );
  });
});
