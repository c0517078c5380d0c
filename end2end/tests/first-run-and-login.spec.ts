// The foundation journey: first-run setup with TOTP enrolment, then the ways back in.
import { expect, test } from "@playwright/test";
import { serverState } from "../server";
import { ADMIN, expectAccessible, hydrated, logOut, submitCredentials, totpCode } from "./portal";

test("an operator sets up a fresh install, enrols 2FA and logs back in", async ({ page }) => {
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));

  let secret = "";
  let recoveryCodes: string[] = [];

  await test.step("a fresh install shows only the setup-required page", async () => {
    await page.goto("/");
    await expect(page).toHaveURL(/\/setup$/);
    await expect(page.getByRole("heading", { name: "Setup required" })).toBeVisible();
    await page.goto("/login");
    await expect(page).toHaveURL(/\/setup$/);
  });

  await test.step("the console's setup URL creates the instance; a weak password is refused by name", async () => {
    await page.goto(serverState().setupUrl);
    await hydrated(page);
    await expectAccessible(page, "the setup form");
    await page.getByLabel("Homerealm").fill(ADMIN.homerealm);
    await page.getByLabel("Company name").fill(ADMIN.name);
    await page.getByLabel("Your e-mail").fill(ADMIN.email);
    await page.getByLabel("Password", { exact: true }).fill("weakpassword");
    await page.getByLabel("Confirm password").fill("weakpassword");
    await page.getByRole("button", { name: "Create instance" }).click();
    await expect(page.getByRole("alert")).toHaveText("Password must contain an upper-case letter.");
    await page.getByLabel("Password", { exact: true }).fill(ADMIN.password);
    await page.getByLabel("Confirm password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Create instance" }).click();
    await expect(page.getByRole("heading", { name: "Set up two-factor authentication" })).toBeVisible();
  });

  await test.step("enrol TOTP from the QR code's secret and receive ten recovery codes", async () => {
    await expect(page.locator(".qr svg")).toBeVisible();
    await expectAccessible(page, "2FA enrolment");
    await page.getByRole("button", { name: "Can't scan?" }).click();
    secret = (await page.getByTestId("totp-secret").textContent())!.trim();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    await page.getByLabel("Code").fill("000000" === totpCode(secret) ? "111111" : "000000");
    await page.getByRole("button", { name: "Next" }).click();
    await expect(page.getByRole("alert")).toContainText("does not match");
    await page.getByLabel("Code").fill(totpCode(secret));
    await page.getByRole("button", { name: "Next" }).click();
    const codes = page.getByTestId("recovery-codes").locator("li");
    await expect(codes).toHaveCount(10);
    recoveryCodes = (await codes.allTextContents()).map((c) => c.trim());
    await expect(page.getByRole("link", { name: "Download" })).toHaveAttribute("download", "backplane-recovery-codes.txt");
    await page.getByRole("button", { name: "Save & Done" }).click();
    await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  });

  await test.step("the setup URL is void afterwards", async () => {
    await page.goto(serverState().setupUrl);
    await expect(page.getByRole("alert")).toContainText("Setup has already been completed");
  });

  await test.step("the dark theme survives a reload and is rendered by the server", async () => {
    await page.goto("/");
    await hydrated(page);
    await expect(page.locator("html")).toHaveAttribute("data-theme", "light");
    await page.getByLabel("User menu").click();
    const saved = page.waitForResponse((r) => r.url().endsWith("/api/account/theme") && r.ok());
    await page.getByRole("menuitemcheckbox").click();
    await saved;
    await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
    await expectAccessible(page, "the Dashboard in the dark theme");
    await page.reload();
    await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
    const html = await (await page.request.get("/")).text();
    expect(html).toContain('data-theme="dark"');
  });

  await test.step("the shell works at 375 px: the menu collapses and still navigates", async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto("/");
    await hydrated(page);
    const nav = page.getByRole("navigation", { name: "Main" });
    await expect(nav).toBeHidden();
    await page.getByRole("button", { name: "Menu", exact: true }).click();
    await expect(nav).toBeVisible();
    await expectAccessible(page, "the open menu at 375 px");
    await nav.getByRole("link", { name: "Jobs" }).click();
    await expect(page.getByRole("heading", { name: "Jobs", level: 1, exact: true })).toBeVisible();
    await expect(nav).toBeHidden();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await test.step("log out, then log in with a TOTP code", async () => {
    await page.goto("/");
    await hydrated(page);
    await logOut(page);
    await page.goto("/");
    await expect(page).toHaveURL(/\/login$/);
    await submitCredentials(page, ADMIN.email, ADMIN.password);
    await expect(page.getByRole("heading", { name: "Two-factor authentication" })).toBeVisible();
    await expectAccessible(page, "the second-factor step");
    // The enrolment used the current step; the next step's code is new and within the skew.
    await page.getByLabel(/Code from your authenticator/).fill(totpCode(secret, 1));
    await page.getByRole("button", { name: "Verify" }).click();
    await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  });

  await test.step("log in with a recovery code", async () => {
    await hydrated(page);
    await logOut(page);
    await submitCredentials(page, ADMIN.email, ADMIN.password);
    await page.getByLabel(/Code from your authenticator/).fill(recoveryCodes[0]);
    await page.getByRole("button", { name: "Verify" }).click();
    await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  });

  const newPassword = "Battery-Staple-7";
  await test.step("reset the password by e-mailed link, read from Settings → Outbox", async () => {
    await hydrated(page);
    await page.getByLabel("User menu").click();
    await page.getByRole("menuitem", { name: "Reset password" }).click();
    await hydrated(page);
    await expect(page.getByLabel("Homerealm")).toHaveValue(ADMIN.homerealm);
    await page.getByLabel("E-mail").fill(ADMIN.email);
    await page.getByRole("button", { name: "Reset" }).click();
    await expect(page.getByRole("status")).toContainText("a reset link is on its way");

    await page.goto("/settings/outbox");
    await expect(page.getByText("SMTP is not configured")).toBeVisible();
    const mail = page.locator(".mail", { hasText: "Reset your Backplane password" });
    await mail.locator("summary").click();
    const body = await mail.locator(".mail-body").textContent();
    const link = body!.match(/http\S+reset-password\?token=\S+/)![0];

    await page.goto(link);
    await hydrated(page);
    await page.getByLabel("Password", { exact: true }).fill(newPassword);
    await page.getByLabel("Confirm password").fill("Battery-Staple-8");
    await page.getByRole("button", { name: "Set password" }).click();
    await expect(page.getByRole("alert")).toHaveText("The two passwords do not match.");
    await page.getByLabel("Confirm password").fill(newPassword);
    await page.getByRole("button", { name: "Set password" }).click();
    await expect(page.getByRole("status")).toHaveText("Your password is set.");
    await page.goto(link);
    await expect(page.getByRole("alert")).toContainText("already been used");
    // The reset ended every session, including this browser's.
    await page.goto("/");
    await expect(page).toHaveURL(/\/login$/);
  });

  await test.step("a used recovery code is refused; an unused one works with the new password", async () => {
    await submitCredentials(page, ADMIN.email, ADMIN.password);
    await expect(page.getByRole("alert")).toHaveText("The e-mail address or password is wrong.");
    await submitCredentials(page, ADMIN.email, newPassword);
    await page.getByLabel(/Code from your authenticator/).fill(recoveryCodes[0]);
    await page.getByRole("button", { name: "Verify" }).click();
    await expect(page.getByRole("alert")).toContainText("not valid or has already been used");
    await page.getByLabel(/Code from your authenticator/).fill(recoveryCodes[1]);
    await page.getByRole("button", { name: "Verify" }).click();
    await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
    // Live updates connect once the page is up; only then is dropping the cookie a fair test.
    await expect(page.locator("[data-live=connected]")).toBeAttached();
  });

  await test.step("repeated wrong passwords are throttled with a clear message", async () => {
    await page.context().clearCookies();
    for (let attempt = 1; attempt <= 4; attempt++) {
      await submitCredentials(page, ADMIN.email, `Wrong-password-${attempt}`);
      await expect(page.getByRole("alert")).toHaveText("The e-mail address or password is wrong.");
    }
    await submitCredentials(page, ADMIN.email, "Wrong-password-5");
    await expect(page.getByRole("alert")).toHaveText("Too many attempts — try again in 15 minutes.");
    // Even the right password is refused while the block lasts.
    await submitCredentials(page, ADMIN.email, newPassword);
    await expect(page.getByRole("alert")).toContainText("Too many attempts");
  });

  expect(problems.filter((p) => !p.includes("status of 4"))).toEqual([]);
});
