// Tenancy: a second instance made by the CLI, scopes and organizations, an invited Monitor
// who sees only their scope, and the audit log of it all.
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect, Page, test } from "@playwright/test";
import { serverState } from "../server";
import { expectAccessible, hydrated, logOut, totpCode } from "./portal";

const OWNER = { homerealm: "globex", email: "owner@globex.example", password: "Globex-Owner-1" };

async function logIn(page: Page, homerealm: string, email: string, password: string) {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Homerealm").fill(homerealm);
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log In" }).click();
}

async function newOrganization(page: Page, name: string, scope: string) {
  await page.getByRole("button", { name: "+ New" }).click();
  const dialog = page.getByRole("dialog", { name: "New organization" });
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByLabel("Scope").selectOption({ label: scope });
  await dialog.getByRole("button", { name: "Save" }).click();
}

test("a Superuser organizes customers into scopes; a Monitor sees only theirs", async ({ page }) => {
  const created = execFileSync(
    path.resolve(__dirname, "../../target/debug/backplane"),
    ["admin", "create-instance", "--homerealm", OWNER.homerealm, "--name", "Globex", "--email", OWNER.email],
    { env: { ...process.env, BACKPLANE_DATA_DIR: serverState().dataDir, BACKPLANE_ADMIN_PASSWORD: OWNER.password, DATABASE_URL: "" } },
  ).toString();
  const secret = created.match(/TOTP secret: (\S+)/)![1];

  await test.step("with two instances, login asks for the homerealm first", async () => {
    await logIn(page, OWNER.homerealm, OWNER.email, OWNER.password);
    await page.getByLabel(/Code from your authenticator/).fill(totpCode(secret));
    await page.getByRole("button", { name: "Verify" }).click();
    await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  });

  await test.step("add two scopes", async () => {
    await page.goto("/settings/scopes");
    await hydrated(page);
    for (const name of ["East", "West"]) {
      await page.getByLabel("New scope").fill(name);
      await page.getByRole("button", { name: "Add" }).click();
      await expect(page.getByRole("cell", { name, exact: true })).toBeVisible();
    }
  });

  let westwindPage = "";
  await test.step("add organizations; a duplicate name is refused; DELETE must be typed", async () => {
    await page.goto("/organizations");
    await hydrated(page);
    await newOrganization(page, "Initech", "East");
    await expect(page.getByRole("cell", { name: "Initech" })).toBeVisible();
    await newOrganization(page, "Westwind", "West");
    await expect(page.getByRole("cell", { name: "Westwind" })).toBeVisible();
    westwindPage = (await page.getByRole("link", { name: "Westwind", exact: true }).getAttribute("href"))!;
    expect(westwindPage).toMatch(/^\/organizations\/\d+$/);
    await newOrganization(page, "initech", "West");
    await expect(page.getByRole("alert")).toHaveText("An organization with this name already exists.");
    await page.getByRole("button", { name: "Cancel" }).click();
    await newOrganization(page, "Temporary", "West");
    const row = page.getByRole("row", { name: /Temporary/ });
    await row.getByRole("button", { name: "Delete" }).click();
    const confirm = page.getByRole("dialog", { name: "Delete organization" });
    await expect(confirm.getByRole("button", { name: "Delete" })).toBeDisabled();
    await expectAccessible(page, "the Delete organization dialog");
    await confirm.getByLabel("Type DELETE to confirm").fill("DELETE");
    await confirm.getByRole("button", { name: "Delete" }).click();
    await expect(page.getByRole("cell", { name: "Temporary" })).toHaveCount(0);
    await page.getByLabel("Name").fill("west");
    await page.getByLabel("Name").press("Enter");
    await expect(page).toHaveURL(/name=west/);
    await expect(page.getByRole("cell", { name: "Westwind" })).toBeVisible();
    await expect(page.getByRole("cell", { name: "Initech" })).toHaveCount(0);
  });

  let activation = "";
  await test.step("invite a Monitor into East; the activation mail waits in the outbox", async () => {
    await page.goto("/settings/users");
    await hydrated(page);
    await page.getByRole("button", { name: "+ New" }).click();
    const dialog = page.getByRole("dialog", { name: "New user" });
    await dialog.getByLabel("Email").fill("viewer@globex.example");
    await dialog.getByLabel("Role").selectOption({ label: "Monitor" });
    await dialog.getByLabel("East").check();
    await dialog.getByRole("button", { name: "Save" }).click();
    await expect(page.getByRole("row", { name: /viewer@globex.example/ })).toContainText("Pending activation");
    await expectAccessible(page, "Settings → Users");
    // Sorted by role, the Monitor comes before the Superuser; reversed, after.
    const emails = page.locator("tbody tr td:first-child");
    await page.getByRole("link", { name: "Role" }).click();
    await expect(page).toHaveURL(/sort=role/);
    await expect(page.getByRole("columnheader", { name: "Role" })).toHaveAttribute("aria-sort", "ascending");
    await expect(emails.first()).toHaveText("viewer@globex.example");
    await page.getByRole("link", { name: "Role" }).click();
    await expect(page).toHaveURL(/desc=1/);
    await expect(emails.last()).toHaveText("viewer@globex.example");
    await page.goto("/settings/outbox");
    const mail = page.locator(".mail", { hasText: "Activate your Backplane account" });
    await mail.locator("summary").click();
    activation = (await mail.locator(".mail-body").textContent())!.match(/http\S+activate\?token=\S+/)![0];
    await hydrated(page);
    await logOut(page);
  });

  await test.step("the Monitor activates, enrols and sees only East's organization", async () => {
    await page.goto(activation);
    await hydrated(page);
    await page.getByLabel("Password", { exact: true }).fill("Viewer-Pass-1");
    await page.getByLabel("Confirm password").fill("Viewer-Pass-1");
    await page.getByRole("button", { name: "Set password" }).click();
    await expect(page.getByRole("status")).toHaveText("Your password is set.");
    await logIn(page, OWNER.homerealm, "viewer@globex.example", "Viewer-Pass-1");
    await page.getByRole("button", { name: "Can't scan?" }).click();
    const viewerSecret = (await page.getByTestId("totp-secret").textContent())!.trim();
    await page.getByLabel("Code").fill(totpCode(viewerSecret));
    await page.getByRole("button", { name: "Next" }).click();
    await page.getByRole("button", { name: "Save & Done" }).click();
    await page.goto("/organizations");
    await hydrated(page);
    await expect(page.getByRole("cell", { name: "Initech" })).toBeVisible();
    await expect(page.getByRole("cell", { name: "Westwind" })).toHaveCount(0);
    await expect(page.getByRole("button", { name: "+ New" })).toHaveCount(0);
    // Another scope's organization page is not found, its address known or not.
    await page.goto(westwindPage);
    await hydrated(page);
    await expect(page.getByRole("alert")).toHaveText("Organization was not found.");
    await expect(page.getByText("Westwind")).toHaveCount(0);
    const refused = await page.request.post("/api/orgs/create", { form: { name: "Sneaky", scope: "" } });
    expect(refused.status()).toBe(403);
    await page.goto("/settings");
    await expect(page.getByRole("link", { name: "Users" })).toHaveCount(0);
    await expect(page.getByRole("link", { name: "Audit log" })).toHaveCount(0);
    await hydrated(page);
    await logOut(page);
  });

  await test.step("the Superuser finds every change in the audit log and exports it", async () => {
    await logIn(page, OWNER.homerealm, OWNER.email, OWNER.password);
    await page.getByLabel(/Code from your authenticator/).fill(totpCode(secret, 1));
    await page.getByRole("button", { name: "Verify" }).click();
    await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
    await page.goto("/settings/audit?action=organization");
    await expect(page.getByRole("cell", { name: "organization.deleted" })).toBeVisible();
    await expectAccessible(page, "the audit log");
    await expect(page.getByRole("cell", { name: "user.invited" })).toHaveCount(0);
    const csv = await (await page.request.get("/settings/audit/export.csv?action=organization")).text();
    expect(csv.split("\n")[0]).toBe("time_utc,actor,action,target,before,after,client_ip");
    expect(csv).toContain("organization.created");
    expect(csv).not.toContain("user.invited");
  });

  await test.step("add an appliance: the wizard's command line registers a real appliance", async () => {
    await page.goto("/protect");
    await hydrated(page);
    await page.getByRole("button", { name: "+ New" }).click();
    const wizard = page.getByRole("dialog", { name: "Add appliance" });
    await wizard.getByRole("combobox", { name: "Organization" }).fill("initech");
    await wizard.getByRole("option", { name: "Initech" }).click();
    await wizard.getByRole("button", { name: "Create registration ID" }).click();
    const command = (await page.getByTestId("appliance-command").textContent())!;
    const registrationId = command.match(/--registration-id (\S+)/)![1];
    expect(command).toContain(`--portal http://127.0.0.1:`);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "backplane-e2e-appliance-"));
    const appliance = spawn(
      path.resolve(__dirname, "../../target/debug/backplane-appliance"),
      ["--portal", new URL(page.url()).origin, "--registration-id", registrationId, "--data-dir", dataDir,
       "--name", "initech-backup-01", "--heartbeat-secs", "1"],
      { stdio: "ignore" },
    );
    try {
      await expect(page.getByTestId("appliance-connected")).toContainText("initech-backup-01 is connected", { timeout: 30_000 });
      await wizard.getByRole("button", { name: "Done" }).click();
      const row = page.getByRole("row", { name: /initech-backup-01/ });
      await expect(row).toContainText("Online");
      await expect(row).toContainText("Initech");
      await expect(row).toContainText("Backplane reference appliance");

      // The organization's page, from its row: its appliance, no assets yet, and Edit.
      await page.goto("/organizations");
      await hydrated(page);
      await page.getByRole("link", { name: "Initech", exact: true }).click();
      await expect(page.getByRole("heading", { name: "Initech", level: 1 })).toBeVisible();
      await expect(page.getByText("Scope: East")).toBeVisible();
      const appliances = page.locator("[data-section=appliances]");
      await expect(appliances.getByRole("row", { name: /initech-backup-01/ })).toContainText("Online");
      await expect(page.locator("[data-section=assets]")).toContainText("No assets yet.");
      await expectAccessible(page, "an organization's page");
      await page.getByRole("button", { name: "Edit" }).click();
      const edit = page.getByRole("dialog", { name: "Edit organization" });
      await edit.getByLabel("Name").fill("Initech Corp");
      await edit.getByRole("button", { name: "Save" }).click();
      await expect(page.getByRole("heading", { name: "Initech Corp", level: 1 })).toBeVisible();

      // The organization's copy target reaches its appliance, in a directory of its own.
      const copies = page.getByRole("region", { name: "Backup copies" });
      await copies.getByRole("button", { name: "Set copy target" }).click();
      const target = page.getByRole("dialog", { name: "Copy target" });
      await target.getByLabel("Copy to").selectOption({ label: "A directory on another volume" });
      await target.getByLabel("Directory on the appliance").fill(`${dataDir}-offsite`);
      await target.getByLabel("When").selectOption({ label: "On a schedule of its own" });
      await target.getByLabel("Copy schedule").selectOption({ label: "Daily" });
      await target.getByLabel("Start date").fill("2026-01-05");
      await target.getByLabel("Start time").fill("23:30");
      await target.getByRole("button", { name: "Save" }).click();
      await expect(copies.getByRole("status")).toHaveText("Sent to 1 appliance.");
      await expect(copies.getByTestId("copy-target")).toContainText("Daily from 2026-01-05 23:30");
      await expectAccessible(page, "an organization's page with its copy target");

      await appliances.getByRole("link", { name: "initech-backup-01" }).click();
      await expect(page).toHaveURL(/\/protect\/appliances\/\d+$/);
      const own = page.getByTestId("copy-target");
      await expect(own).toContainText(/appliance-\d+ \(its organization's target\)/);
      await expect(page.getByRole("button", { name: "Set a target of its own" })).toBeVisible();
      await expect(page.getByRole("button", { name: "Stop copies" })).toHaveCount(0);
      await expect(async () => {
        const saved = JSON.parse(fs.readFileSync(path.join(dataDir, "copy-target.json"), "utf8"));
        expect(saved.location.path).toMatch(new RegExp(`${dataDir}-offsite/appliance-\\d+$`));
        expect(saved.schedule.start_time).toBe("23:30");
      }).toPass({ timeout: 30_000 });
    } finally {
      appliance.kill();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
