// Page helpers shared by the specs: hydration, TOTP codes, the login steps.
import { expect, Page } from "@playwright/test";
import { TOTP } from "otpauth";

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
