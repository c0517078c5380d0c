// Page helpers shared by the specs: hydration, TOTP codes, the login steps, instances and users.
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { Browser, expect, Page } from "@playwright/test";
import { TOTP } from "otpauth";
import { serverState } from "../server";

export const ADMIN = {
  homerealm: "acme-it",
  name: "Acme IT",
  email: "owner@acme-it.example",
  password: "Correct-Horse-9",
};

/** Waits until the wasm has hydrated the page, so clicks reach Leptos handlers. */
export async function hydrated(page: Page) {
  await expect(page.locator("body[data-hydrated=true]")).toBeAttached();
}

/**
 * Fails on every WCAG 2.1 A/AA problem axe-core rates serious or critical on the page as it
 * stands (open dialogs included), naming the rule and the elements.
 */
export async function expectAccessible(page: Page, where: string) {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const grave = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 5).map((n) => n.target.join(" ")).join(", ")}`);
  expect(grave, `accessibility of ${where}`).toEqual([]);
}

/** The TOTP code `stepOffset` 30-second steps from now (the server accepts -1..+1). */
export function totpCode(secret: string, stepOffset = 0): string {
  const totp = new TOTP({ secret, digits: 6, period: 30, algorithm: "SHA1" });
  return totp.generate({ timestamp: Date.now() + stepOffset * 30_000 });
}

export async function submitCredentials(page: Page, email: string, password: string) {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log In" }).click();
}

export async function logOut(page: Page) {
  await page.getByLabel("User menu").click();
  await page.getByRole("menuitem", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);
}

export interface Owner {
  homerealm: string;
  email: string;
  password: string;
}

/** A new instance and its Superuser, made with the portal's admin command; returns the TOTP secret. */
export function createInstance(owner: Owner, name: string, dataDir = serverState().dataDir): string {
  const created = execFileSync(
    path.resolve(__dirname, "../../target/debug/backplane"),
    ["admin", "create-instance", "--homerealm", owner.homerealm, "--name", name, "--email", owner.email],
    { env: { ...process.env, BACKPLANE_DATA_DIR: dataDir, BACKPLANE_ADMIN_PASSWORD: owner.password, DATABASE_URL: "" } },
  ).toString();
  return created.match(/TOTP secret: (\S+)/)![1];
}

/** The password step, through the homerealm step when the server holds more than one instance. */
export async function logIn(page: Page, homerealm: string, email: string, password: string) {
  await page.goto("/login");
  await hydrated(page);
  if (await page.getByLabel("Homerealm").isVisible()) {
    await page.getByLabel("Homerealm").fill(homerealm);
    await page.getByRole("button", { name: "Next" }).click();
  }
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log In" }).click();
}

/** Signs an enrolled user in fully: password, then the code from its TOTP secret. */
export async function signIn(page: Page, owner: Owner, secret: string) {
  await logIn(page, owner.homerealm, owner.email, owner.password);
  await page.getByLabel(/Code from your authenticator/).fill(totpCode(secret));
  await page.getByRole("button", { name: "Verify" }).click();
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
}

/** Invites a user (as `admin`, in scope `scope` if given), activates it and enrols its second factor in
 *  a browser context of its own; returns its signed-in page. */
export async function invitedUser(
  browser: Browser,
  admin: Page,
  homerealm: string,
  user: { email: string; password: string; role: string; scope?: string },
): Promise<Page> {
  await admin.goto("/settings/users");
  await hydrated(admin);
  await admin.getByRole("button", { name: "+ New" }).click();
  const dialog = admin.getByRole("dialog", { name: "New user" });
  await dialog.getByLabel("Email").fill(user.email);
  await dialog.getByLabel("Role").selectOption({ label: user.role });
  if (user.scope) {
    await dialog.getByLabel(user.scope).check();
  }
  await dialog.getByRole("button", { name: "Save" }).click();
  await expect(admin.getByRole("row", { name: new RegExp(user.email) })).toContainText("Pending activation");
  await admin.goto("/settings/outbox");
  const mail = admin.locator(".mail", { hasText: user.email }).first();
  await mail.locator("summary").click();
  const activation = (await mail.locator(".mail-body").textContent())!.match(/http\S+activate\?token=\S+/)![0];

  const page = await (await browser.newContext({ baseURL: new URL(admin.url()).origin })).newPage();
  await page.goto(activation);
  await hydrated(page);
  await page.getByLabel("Password", { exact: true }).fill(user.password);
  await page.getByLabel("Confirm password").fill(user.password);
  await page.getByRole("button", { name: "Set password" }).click();
  await expect(page.getByRole("status")).toHaveText("Your password is set.");
  await logIn(page, homerealm, user.email, user.password);
  await page.getByRole("button", { name: "Can't scan?" }).click();
  const secret = (await page.getByTestId("totp-secret").textContent())!.trim();
  await page.getByLabel("Code").fill(totpCode(secret));
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByRole("button", { name: "Save & Done" }).click();
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  return page;
}

/** Adds scopes in Settings → Scopes. */
export async function addScopes(page: Page, names: string[]) {
  await page.goto("/settings/scopes");
  await hydrated(page);
  for (const name of names) {
    await page.getByLabel("New scope").fill(name);
    await page.getByRole("button", { name: "Add" }).click();
    await expect(page.getByRole("cell", { name, exact: true })).toBeVisible();
  }
}

/** After a failure: does the portal still answer, and where are its threads? */
export async function diagnose(origin: string, serverPid: number) {
  const probe = await fetch(`${origin}/login`, { signal: AbortSignal.timeout(5_000) }).then(
    (r) => `HTTP ${r.status}`,
    (e) => `no answer (${e})`,
  );
  console.log(`the portal, probed after the failure: ${probe}`);
  try {
    console.log(execFileSync("gdb", ["-p", String(serverPid), "-batch", "-ex", "thread apply all bt 25"], { timeout: 60_000 }).toString());
  } catch (e) {
    console.log(`no thread dump: ${e}`);
  }
}
