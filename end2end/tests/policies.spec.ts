// Backup policies and Jobs → Scheduled with a real appliance: Daily set on two assets chosen on
// different pages in one action, pending until the appliance answers, then confirmed; Run now
// from Scheduled, watched in Active and found in Recent with its log; Disable and Delete; a
// Monitor sees the schedules but has no controls, and the server refuses the Monitor's requests.
import { ChildProcess, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { APIRequestContext, expect, test } from "@playwright/test";
import { serverState } from "../server";
import { addScopes, createInstance, diagnose, expectAccessible, hydrated, invitedUser, signIn } from "./portal";

const OWNER = { homerealm: "stark", email: "owner@stark.example", password: "Stark-Owner-42" };
const MONITOR = { email: "watch@stark.example", password: "Watch-Stark-42", role: "Monitor", scope: "East" };
/** More than a page (50) of assets, so the selection has to survive paging. */
const ASSETS = 51;

/** A server function's JSON answer; fails the test on an error status. */
async function call<T>(request: APIRequestContext, endpoint: string, form: Record<string, string>): Promise<T> {
  const response = await request.post(`/api/${endpoint}`, { form });
  expect(response.ok(), `${endpoint}: ${await response.text()}`).toBe(true);
  return (await response.json()) as T;
}

function tomorrow(): string {
  return new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
}

test("policies: set on two assets across pages, pending then confirmed; Scheduled → Run now → Active → Recent", async ({ page, browser }) => {
  test.setTimeout(300_000);
  const secret = createInstance(OWNER, "Stark");
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "backplane-e2e-policies-"));
  const dataDir = path.join(root, "appliance");
  const applianceLog = path.join(root, "appliance.log");
  let appliance: ChildProcess | undefined;
  let applianceId = 0;
  try {
    await signIn(page, OWNER, secret);
    await addScopes(page, ["East"]);

    await test.step("an appliance with 51 assets, registered and given its assets through the API", async () => {
      const scopes = await call<{ id: number; name: string }[]>(page.request, "scopes/list", {});
      const east = scopes.find((s) => s.name === "East")!;
      const registration = await call<{ registration_id: string }>(page.request, "appliances/registration", {
        new_organization: "Stark Labs",
        scope: String(east.id),
      });
      appliance = spawn(
        path.resolve(__dirname, "../../target/debug/backplane-appliance"),
        ["--portal", new URL(page.url()).origin, "--registration-id", registration.registration_id,
         "--data-dir", dataDir, "--name", "stark-nas", "--heartbeat-secs", "2", "--time-zone", "Europe/Berlin"],
        { stdio: ["ignore", "ignore", fs.openSync(applianceLog, "a")], env: { ...process.env, RUST_LOG: "info" } },
      );
      await expect(async () => {
        const list = (await call<{ items: { id: number; online: boolean }[] }>(page.request, "appliances/list", {})).items;
        expect(list.length === 1 && list[0].online).toBe(true);
      }).toPass({ timeout: 30_000 });
      const [{ id }] = (await call<{ items: { id: number }[] }>(page.request, "appliances/list", {})).items;
      applianceId = id;
      for (let i = 0; i < ASSETS; i++) {
        const dir = path.join(root, `share-${String(i).padStart(2, "0")}`);
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, "data.bin"), crypto.randomBytes(i === 0 ? 64 * 1024 * 1024 : 1024));
        await call(page.request, "assets/add", { appliance_id: String(id), path: dir });
      }
      // The page loads while the last inventories may still arrive: live updates complete it.
      await page.goto("/protect/assets");
      await hydrated(page);
      await expect(page.getByText(`${ASSETS} in all`)).toBeVisible({ timeout: 30_000 });
    });

    await test.step("select share-00 on page 1 and share-50 on page 2, set Daily: pending, then confirmed", async () => {
      await page.evaluate(() => ((window as any).sameDocument = true));
      await page.getByRole("checkbox", { name: "Select share-00" }).check();
      await page.getByRole("link", { name: "Next" }).click();
      await page.getByRole("checkbox", { name: "Select share-50" }).check();
      await expect(page.getByTestId("selected-count")).toHaveText("2 selected");
      // Hold the appliance still, so the pending state can be seen before it answers.
      appliance!.kill("SIGSTOP");
      await page.getByRole("button", { name: "Set backup policy" }).click();
      const dialog = page.getByRole("dialog", { name: "Set backup policy" });
      await expect(dialog).toContainText("Europe/Berlin (2 assets)");
      await expectAccessible(page, "the Set backup policy dialog");
      await dialog.getByLabel("Backup schedule").selectOption({ label: "Daily" });
      await dialog.getByLabel("Start date").fill(tomorrow());
      await dialog.getByLabel("Start time").fill("22:00");
      await dialog.getByLabel("Last").fill("7");
      await dialog.getByRole("button", { name: "Save" }).click();
      await expect(page.getByRole("status").filter({ hasText: "for 2 assets" })).toBeVisible();
      const row50 = page.locator('tr[data-asset="share-50"]');
      await expect(row50).toHaveAttribute("data-policy-state", "pending");
      await expect(row50.getByRole("checkbox")).toBeDisabled();
      appliance!.kill("SIGCONT");
      await expect(row50).toHaveAttribute("data-policy-state", "active", { timeout: 30_000 });
      await expect(row50).toContainText("Daily");
      await expect(row50).toContainText("last 7");
      await page.getByRole("link", { name: "Previous" }).click();
      const row00 = page.locator('tr[data-asset="share-00"]');
      await expect(row00).toHaveAttribute("data-policy-state", "active");
      await expect(page.locator('tr[data-asset="share-01"]')).toHaveAttribute("data-policy-state", "none");
      expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
    });

    await test.step("Scheduled lists both; Run now is watched in Active and found in Recent with its log", async () => {
      await page.goto("/jobs/scheduled");
      await hydrated(page);
      await expect(page.locator("tr[data-schedule]")).toHaveCount(2);
      await expectAccessible(page, "Jobs → Scheduled");
      const row = page.locator('tr[data-schedule="share-00"]');
      await expect(row).toContainText("Backplane-share-00");
      await expect(row).toContainText("Daily");
      await expect(row.locator("time")).toBeVisible();
      await row.getByRole("button", { name: "Run now" }).click();
      await expect(row.locator(".command-feedback")).toHaveAttribute("data-status", "done", { timeout: 30_000 });

      await page.getByRole("link", { name: "Active" }).click();
      const job = page.locator("tr[data-kind=backup]", { hasText: "share-00" }).first();
      await expect(job).toBeVisible({ timeout: 30_000 });
      await expect(job.locator("[data-state]")).toHaveAttribute("data-state", "success", { timeout: 120_000 });
      await expect(job.locator("[role=progressbar]")).toHaveAttribute("aria-valuenow", "100.0");

      await page.getByRole("link", { name: "Recent" }).click();
      const recent = page.locator("tr[data-kind=backup]", { hasText: "share-00" }).first();
      await expect(recent.locator("[data-mode]")).toHaveAttribute("data-mode", "full");
      await recent.click();
      const drawer = page.getByRole("dialog", { name: "Job log" });
      await expect(drawer).toContainText("Full");
      await expect(drawer).toContainText("Full backup of");
    });

    await test.step("Disable pauses the schedule; Delete removes it once the appliance confirms", async () => {
      await page.goto("/jobs/scheduled");
      await hydrated(page);
      const row = page.locator('tr[data-schedule="share-50"]');
      await row.getByRole("button", { name: "Disable" }).click();
      await expect(row.locator(".command-feedback")).toHaveAttribute("data-status", "done", { timeout: 30_000 });
      await expect(page.locator('tr[data-schedule="share-50"]')).toHaveAttribute("data-enabled", "false", { timeout: 30_000 });
      await expect(page.locator('tr[data-schedule="share-50"]')).toContainText("–");
      await page.locator('tr[data-schedule="share-50"]').getByRole("button", { name: "Delete" }).click();
      await page.getByRole("group", { name: "Confirm delete" }).getByRole("button", { name: "Delete" }).click();
      await expect(page.locator("tr[data-schedule]")).toHaveCount(1, { timeout: 30_000 });
    });

    await test.step("a Monitor sees the schedule and assets but has no controls, and the server refuses", async () => {
      const monitor = await invitedUser(browser, page, OWNER.homerealm, MONITOR);
      await monitor.goto("/jobs/scheduled");
      await hydrated(monitor);
      await expect(monitor.locator('tr[data-schedule="share-00"]')).toBeVisible();
      await expect(monitor.getByRole("button", { name: "Run now" })).toHaveCount(0);
      await expect(monitor.getByRole("button", { name: "Disable" })).toHaveCount(0);
      await monitor.goto("/protect/assets");
      await hydrated(monitor);
      await expect(monitor.locator('tr[data-asset="share-00"]')).toHaveAttribute("data-policy-state", "active");
      await expect(monitor.getByRole("checkbox", { name: /^Select / })).toHaveCount(0);
      await expect(monitor.getByRole("checkbox", { name: "Recent failures" })).toHaveCount(1);
      await expect(monitor.getByRole("button", { name: "Set backup policy" })).toHaveCount(0);
      await monitor.goto("/jobs/active");
      await hydrated(monitor);
      await expect(monitor.getByRole("button", { name: "Cancel" })).toHaveCount(0);
      const assetId = (await call<{ items: { id: number; name: string }[] }>(monitor.request, "assets/list", {}))
        .items.find((a) => a.name === "share-00")!.id;
      for (const [endpoint, form] of [
        ["policies/set", { asset_ids: String(assetId), frequency: "daily", start_date: tomorrow(), start_time: "22:00" }],
        ["policies/remove", { asset_ids: String(assetId) }],
        ["assets/backup-now", { asset_id: String(assetId) }],
        ["schedules/enable", { asset_id: String(assetId), enabled: "false" }],
      ] as const) {
        const refused = await monitor.request.post(`/api/${endpoint}`, { form });
        expect(refused.status(), endpoint).toBe(403);
      }
    });
  } catch (error) {
    appliance?.kill("SIGCONT");
    const commands = await page.request
      .post("/api/appliances/commands", { form: { appliance_id: String(applianceId) } })
      .then((r) => r.text(), (e) => `${e}`);
    console.log(`the appliance's commands after the failure: ${commands.slice(0, 4000)}`);
    console.log(`the appliance's log:\n${fs.readFileSync(applianceLog, "utf8").slice(-8000)}`);
    await diagnose(new URL(page.url()).origin, serverState().pid);
    throw error;
  } finally {
    appliance?.kill("SIGCONT");
    appliance?.kill();
    fs.rmSync(root, { recursive: true, force: true });
  }
});
