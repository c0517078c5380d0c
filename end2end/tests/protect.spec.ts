// Protect, end to end with a real appliance: the wizard turns green when it connects, an asset
// is added and backed up with live progress (no reload), a file is restored and compared byte
// for byte, and a Monitor of another scope sees none of it, not even on the live socket.
import { execFileSync, execSync, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Browser, expect, Page, test } from "@playwright/test";
import { addScopes, createInstance, expectAccessible, hydrated, invitedUser, signIn } from "./portal";

const OWNER = { homerealm: "umbrella", email: "owner@umbrella.example", password: "Umbrella-Owner-1" };
const MONITOR = { email: "night-shift@umbrella.example", password: "Night-Shift-1" };
const DATA_MB = 200;

/** ~200 MB of incompressible files in a fresh directory, so a backup takes several seconds. */
function protectedDirectory(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "backplane-e2e-protected-"));
  for (let i = 0; i < DATA_MB / 10; i++) {
    fs.writeFileSync(path.join(dir, `file-${String(i).padStart(2, "0")}.bin`), crypto.randomBytes(10 * 1024 * 1024));
  }
  fs.mkdirSync(path.join(dir, "reports"));
  fs.writeFileSync(path.join(dir, "reports", "q3.txt"), crypto.randomBytes(64 * 1024));
  return dir;
}

/** A Monitor in the scope "South" (which holds no organization), signed in in its own context. */
async function monitorPage(browser: Browser, owner: Page): Promise<Page> {
  return invitedUser(browser, owner, OWNER.homerealm, { ...MONITOR, role: "Monitor", scope: "South" });
}

test("a real appliance: connect, back up with live progress, restore; other scopes see nothing", async ({ page, browser }) => {
  test.setTimeout(480_000);
  const secret = createInstance(OWNER, "Umbrella");
  const protectedDir = protectedDirectory();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "backplane-e2e-appliance-"));
  const restoreDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "backplane-e2e-restore-")), "target");
  const vanishingDir = fs.mkdtempSync(path.join(os.tmpdir(), "backplane-e2e-vanishing-"));
  const copyDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "backplane-e2e-copies-")), "offsite");
  let appliance: ReturnType<typeof spawn> | undefined;
  let applianceId = "";

  try {
    await signIn(page, OWNER, secret);

    await test.step("scopes North (for the customer) and South (empty)", async () => {
      await addScopes(page, ["North", "South"]);
    });

    const monitor = await monitorPage(browser, page);
    await monitor.goto("/protect");
    await hydrated(monitor);
    // Everything the Monitor's live socket receives from now on.
    await monitor.evaluate(() => {
      const frames: string[] = [];
      (window as any).liveFrames = frames;
      const socket = new WebSocket(`ws://${location.host}/api/live`);
      socket.onmessage = (event) => frames.push(event.data);
    });

    await test.step("the wizard creates the organization and turns green when the appliance connects", async () => {
      await page.goto("/protect");
      await hydrated(page);
      await page.getByRole("button", { name: "+ New" }).click();
      const wizard = page.getByRole("dialog", { name: "Add appliance" });
      await wizard.getByLabel("New organization name").fill("Umbrella Labs");
      await wizard.getByLabel("Its scope").selectOption({ label: "North" });
      await wizard.getByRole("button", { name: "Create registration ID" }).click();
      await expect(wizard.getByRole("status")).toContainText("Waiting for the appliance to connect");
      await expectAccessible(page, "the Add appliance wizard");
      const command = (await page.getByTestId("appliance-command").textContent())!;
      const registrationId = command.match(/--registration-id (\S+)/)![1];
      appliance = spawn(
        path.resolve(__dirname, "../../target/debug/backplane-appliance"),
        ["--portal", new URL(page.url()).origin, "--registration-id", registrationId, "--data-dir", dataDir,
         "--name", "umbrella-nas", "--heartbeat-secs", "2", "--restore-root", path.dirname(restoreDir)],
        { stdio: "ignore" },
      );
      await expect(page.getByTestId("appliance-connected")).toContainText("umbrella-nas is connected", { timeout: 30_000 });
      await expect(page.getByRole("row", { name: /umbrella-nas/ })).toContainText("Online");
      await page.getByRole("link", { name: "Open it" }).click();
      await expect(page.getByRole("heading", { name: /umbrella-nas/ })).toBeVisible();
      applianceId = new URL(page.url()).pathname.split("/").pop()!;
      await expect(page.getByTestId("appliance-status")).toHaveText("Online");
      await expectAccessible(page, "an appliance's page");
    });

    await test.step("add an asset; the command ends done and the asset is listed", async () => {
      const opener = page.getByRole("button", { name: "+ Add asset" });
      await opener.click();
      const dialog = page.getByRole("dialog", { name: "Add asset" });
      await expect(dialog.getByLabel("Directory on the appliance")).toBeFocused();
      await expectAccessible(page, "the Add asset dialog");
      await page.keyboard.press("Escape");
      await expect(dialog).toHaveCount(0);
      await expect(opener).toBeFocused();
      await opener.click();
      await dialog.getByLabel("Directory on the appliance").fill("/no/such/directory");
      await dialog.getByRole("button", { name: "Add" }).click();
      await expect(page.locator(".command-feedback")).toHaveAttribute("data-status", "error", { timeout: 30_000 });
      await page.getByRole("button", { name: "+ Add asset" }).click();
      await dialog.getByLabel("Directory on the appliance").fill(protectedDir);
      await dialog.getByRole("button", { name: "Add" }).click();
      await expect(page.locator(".command-feedback")).toHaveAttribute("data-status", "done", { timeout: 30_000 });
      await expect(page.locator(`tr[data-asset="${path.basename(protectedDir)}"]`)).toBeVisible();
    });

    await test.step("back up now: the progress bar advances at least three times without a reload", async () => {
      await page.evaluate(() => ((window as any).sameDocument = true));
      const assetRow = page.locator(`tr[data-asset="${path.basename(protectedDir)}"]`);
      await assetRow.getByRole("button", { name: "Back up now" }).click();
      const job = page.locator("tr[data-kind=backup]").first();
      await expect(job).toBeVisible({ timeout: 30_000 });
      const seen = new Set<string>();
      await expect(async () => {
        const now = await page.locator("tr[data-kind=backup] [role=progressbar]").first().getAttribute("aria-valuenow");
        if (now) seen.add(now);
        await expect(job.locator("[data-state]")).toHaveAttribute("data-state", "success", { timeout: 100 });
      }).toPass({ timeout: 180_000, intervals: [100] });
      const between = [...seen].map(Number).filter((v) => v > 0 && v < 100);
      expect(between.length, `progress values seen: ${[...seen].join(", ")}`).toBeGreaterThanOrEqual(3);
      expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
      await expect(assetRow).toContainText("1");
    });

    await test.step("restore one file to an alternate directory; its bytes match", async () => {
      const assetRow = page.locator(`tr[data-asset="${path.basename(protectedDir)}"]`);
      await assetRow.getByRole("button", { name: "Restore", exact: true }).click();
      const dialog = page.getByRole("dialog", { name: "Restore" });
      await dialog.getByLabel(/Only these paths/).fill("reports/q3.txt");
      await expect(dialog.getByTestId("restore-roots")).toContainText(path.dirname(restoreDir));
      await dialog.getByLabel(/Restore into/).fill("/root/.ssh");
      await dialog.getByRole("button", { name: "Restore", exact: true }).click();
      await expect(dialog.getByRole("alert")).toContainText("restores only into its restore folders");
      await dialog.getByLabel(/Restore into/).fill(restoreDir);
      await dialog.getByRole("button", { name: "Restore", exact: true }).click();
      await expect(page.locator("tr[data-kind=restore] [data-state]").first()).toHaveAttribute("data-state", "success", { timeout: 60_000 });
      const restored = fs.readFileSync(path.join(restoreDir, "reports", "q3.txt"));
      expect(restored.equals(fs.readFileSync(path.join(protectedDir, "reports", "q3.txt")))).toBe(true);
      await page.locator("tr[data-kind=restore]").first().getByRole("button", { name: "Log" }).click();
      await expect(page.getByRole("dialog", { name: "Job log" })).toBeVisible();
    });

    await test.step("Cancel asks first; the job then shows Cancelled and a toast says the cancel was done", async () => {
      for (let i = 0; i < 5; i++) {
        fs.writeFileSync(path.join(protectedDir, `more-${i}.bin`), crypto.randomBytes(10 * 1024 * 1024));
      }
      await page.keyboard.press("Escape");
      await expect(page.getByRole("dialog", { name: "Job log" })).toHaveCount(0);
      const assetRow = page.locator(`tr[data-asset="${path.basename(protectedDir)}"]`);
      await assetRow.getByRole("button", { name: "Back up now" }).click();
      await expect(page.locator(".toasts")).toContainText(/Back up .* now: done/, { timeout: 30_000 });
      const running = page.locator("tr[data-kind=backup]").filter({ has: page.locator('[data-state="running"]') });
      await expect(running).toHaveCount(1, { timeout: 30_000 });
      // Hold the backup worker still, so the job cannot finish before the cancel arrives.
      let worker = 0;
      await expect(async () => {
        worker = Number(execSync(`pgrep -P ${appliance!.pid} || true`).toString().trim().split("\n")[0] || 0);
        expect(worker).toBeGreaterThan(0);
      }).toPass({ timeout: 30_000 });
      process.kill(worker, "SIGSTOP");
      await running.getByRole("button", { name: "Cancel" }).click();
      const confirm = running.getByRole("group", { name: "Confirm cancel" });
      await confirm.getByRole("button", { name: "Keep running" }).click();
      await expect(confirm).toHaveCount(0);
      await expect(running).toHaveCount(1);
      await running.getByRole("button", { name: "Cancel" }).click();
      await confirm.getByRole("button", { name: "Cancel job" }).click();
      await expect(page.locator("tr[data-kind=backup] [data-state=cancelled]")).toHaveCount(1, { timeout: 30_000 });
      await expect(page.locator(".toasts")).toContainText(/Cancel .*: done/);
      await expectAccessible(page, "an appliance's page with toasts");
    });

    await test.step("the Monitor of another scope saw nothing and may do nothing", async () => {
      await expect(monitor.getByText("No appliances match")).toBeVisible();
      const frames: string[] = await monitor.evaluate(() => (window as any).liveFrames);
      expect(frames.length).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(frames[0])).toMatchObject({ frame: "snapshot", jobs: [] });
      expect(frames.slice(1), "no events of Umbrella Labs").toEqual([]);
      const applianceId = new URL(page.url()).pathname.split("/").pop();
      await monitor.goto(`/protect/appliances/${applianceId}`);
      await expect(monitor.getByRole("alert")).toContainText("not found");
      const refused = await monitor.request.post("/api/assets/backup-now", { form: { asset_id: "1" } });
      expect(refused.status()).toBe(403);
    });

    await test.step("Jobs: Active still shows the finished jobs; Recent filters by type and opens a job", async () => {
      await page.goto("/jobs/active");
      await hydrated(page);
      await expect(page.locator("tr[data-kind=backup]")).toHaveCount(2);
      await expect(page.locator("tr[data-kind=backup] [data-state=cancelled]")).toHaveCount(1);
      await expect(page.locator("tr[data-kind=restore]")).toBeVisible();
      await page.goto("/jobs?type=restore");
      await hydrated(page);
      await expect(page.locator("tr[data-kind=restore]")).toHaveCount(1);
      await expect(page.locator("tr[data-kind=backup]")).toHaveCount(0);
      const row = page.locator("tr[data-kind=restore]");
      await row.focus();
      await page.keyboard.press("Enter");
      const drawer = page.getByRole("dialog", { name: "Job log" });
      await expect(drawer).toContainText("Success");
      await expectAccessible(page, "Jobs → Recent with a job's drawer open");
      await page.keyboard.press("Escape");
      await expect(drawer).toHaveCount(0);
      await expect(row).toBeFocused();
    });

    await test.step("Assets: Recent failures finds the asset whose backup failed; the strip shows the day", async () => {
      fs.writeFileSync(path.join(vanishingDir, "ledger.txt"), "Q3\n");
      const post = async <T>(endpoint: string, form: Record<string, string>): Promise<T> => {
        const response = await page.request.post(`/api/${endpoint}`, { form });
        expect(response.ok(), `${endpoint}: ${await response.text()}`).toBe(true);
        return (await response.json()) as T;
      };
      await post("assets/add", { appliance_id: applianceId, path: vanishingDir });
      const vanishing = path.basename(vanishingDir);
      let assetId = 0;
      await expect(async () => {
        const listed = await post<{ items: { id: number; name: string }[] }>("assets/list", {});
        assetId = listed.items.find((a) => a.name === vanishing)?.id ?? 0;
        expect(assetId).toBeGreaterThan(0);
      }).toPass({ timeout: 30_000 });
      // The disk is gone by the time the backup runs.
      fs.rmSync(vanishingDir, { recursive: true, force: true });
      await post("assets/backup-now", { asset_id: String(assetId) });
      await page.goto("/protect/assets");
      await hydrated(page);
      const failedRow = page.locator(`tr[data-asset="${vanishing}"]`);
      await expect(failedRow.locator(".last-backup [data-state]")).toHaveAttribute("data-state", "error", { timeout: 60_000 });
      const goodRow = page.locator(`tr[data-asset="${path.basename(protectedDir)}"]`);
      await expect(goodRow.locator(".last-backup [data-state]")).toHaveAttribute("data-state", "success");
      await expect(goodRow.locator(".last-backup time")).toHaveText(/Just now|minutes? ago/);
      await expect(goodRow.locator(".strip .day").last()).toHaveAttribute("data-health", "success");
      await expect(goodRow.locator(".strip .day")).toHaveCount(7);
      await goodRow.getByRole("button", { name: path.basename(protectedDir) }).click();
      const drawer = page.getByRole("dialog", { name: "Asset details" });
      await expect(drawer.getByRole("heading", { name: path.basename(protectedDir) })).toBeVisible();
      await expect(drawer.locator("li[data-point]")).toHaveCount(1);
      await expect(drawer.locator(".last-backup [data-state]")).toHaveAttribute("data-state", "success");
      await page.keyboard.press("Escape");
      await expect(drawer).toHaveCount(0);

      await page.getByLabel("Recent failures").check();
      await page.getByRole("button", { name: "Apply" }).click();
      await expect(page).toHaveURL(/failures=1/);
      await expect(page.locator("tbody tr[data-asset]")).toHaveCount(1);
      await expect(failedRow).toHaveAttribute("data-recent-failures", "true");
      const today = failedRow.locator(".strip .day").last();
      await expect(today).toHaveAttribute("data-health", "failed");
      await expect(today).toHaveAttribute("title", /1 failed/);
      await expectAccessible(page, "Assets filtered to recent failures");
      await failedRow.getByRole("button", { name: vanishing }).click();
      await expect(drawer.getByRole("heading", { name: vanishing })).toBeVisible();
      await expect(drawer.locator("tr[data-kind=backup] [data-state]")).toHaveAttribute("data-state", "error");
      await expect(drawer).toContainText("No recovery points yet.");
      await expect(drawer.getByRole("link", { name: "See all →" })).toHaveAttribute("href", `/jobs?asset=${vanishing}`);
      await expectAccessible(page, "an asset's drawer");
      await page.keyboard.press("Escape");
      await expect(drawer).toHaveCount(0);

      await page.getByRole("link", { name: "Last backup", exact: true }).click();
      await expect(page).toHaveURL(/sort=last_backup/);
      await expect(page).toHaveURL(/failures=1/);
      await expect(page.getByRole("columnheader", { name: "Last backup", exact: true })).toHaveAttribute("aria-sort", "ascending");
    });

    await test.step("offsite copies and restore tests: Copy now fills Last backup copy, Test restore fills Last verified, without a reload", async () => {
      // Through the list: a full load of an appliance's page does not hydrate yet (see the README).
      await page.goto("/protect");
      await hydrated(page);
      await page.getByRole("link", { name: "umbrella-nas" }).click();
      await expect(page).toHaveURL(new RegExp(`/protect/appliances/${applianceId}$`));
      await page.evaluate(() => ((window as any).sameDocument = true));
      await expect(page.getByTestId("copy-target")).toContainText("No copy target");
      await page.getByRole("button", { name: "Set copy target" }).click();
      const dialog = page.getByRole("dialog", { name: "Copy target" });
      await dialog.getByLabel("Copy to").selectOption({ label: "A directory on another volume" });
      await dialog.getByLabel("Directory on the appliance").fill("relative/path");
      await dialog.getByRole("button", { name: "Save" }).click();
      await expect(dialog.getByRole("alert")).toContainText("plain absolute directory");
      await dialog.getByLabel("Directory on the appliance").fill(copyDir);
      await dialog.getByLabel("Last").fill("5");
      await expectAccessible(page, "the copy target dialog");
      await dialog.getByRole("button", { name: "Save" }).click();
      await expect(dialog).toHaveCount(0);
      await expect(page.locator(".command-feedback")).toHaveAttribute("data-status", "done", { timeout: 30_000 });
      await expect(page.getByTestId("copy-target")).toContainText(copyDir);
      await expect(page.getByTestId("copy-target")).toContainText("last 5");

      const assetRow = page.locator(`tr[data-asset="${path.basename(protectedDir)}"]`);
      await expect(assetRow.locator(".last-copy")).toHaveText("–");
      await assetRow.getByRole("button", { name: "Copy now" }).click();
      await expect(page.locator("tr[data-kind=copy] [data-state]").first()).toHaveAttribute("data-state", "success", { timeout: 120_000 });
      await expect(assetRow.locator(".last-copy time")).toHaveText(/Just now|minutes? ago/, { timeout: 30_000 });
      expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);

      // A restore test on demand: Last verified says it passed, without a reload.
      await expect(assetRow.locator(".last-verified")).toHaveText("Never");
      await assetRow.getByRole("button", { name: "Test restore" }).click();
      await expect(page.locator("tr[data-kind=verify] [data-state]").first()).toHaveAttribute("data-state", "success", { timeout: 120_000 });
      await expect(assetRow.locator(".last-verified")).toHaveAttribute("data-state", "success", { timeout: 30_000 });
      await expect(assetRow.locator(".last-verified")).toContainText("Passed");

      // The copy is a restic repository of its own: the stock restic lists the recovery point.
      const target = JSON.parse(fs.readFileSync(path.join(dataDir, "copy-target.json"), "utf8"));
      const passwordFile = path.join(copyDir, "..", "copy.password");
      fs.writeFileSync(passwordFile, target.repository_password);
      const listed = execFileSync("restic", ["-r", copyDir, "--password-file", passwordFile, "snapshots", "--json", "--no-lock"]);
      expect(JSON.parse(listed.toString())).toHaveLength(1);
    });

    await test.step("the appliance page: alert and job tiles, its alerts open the asset, sortable job tabs, storage", async () => {
      const vanishing = path.basename(vanishingDir);
      const alerts = page.getByRole("table", { name: "Appliance alerts" });
      const failed = alerts.locator("tr[data-alert]").filter({ hasText: vanishing });
      await expect(failed).toHaveCount(1, { timeout: 60_000 });
      await expect(failed).toHaveAttribute("data-severity", "critical");
      await expect(page.locator('[data-tile="appliance-alerts"] [data-count="critical"]')).not.toHaveText("0");
      const today = page.locator('[data-tile="completed"] g[data-day]').last();
      await expect(today).toHaveAttribute("data-missed", "1");
      expect(Number(await today.getAttribute("data-success"))).toBeGreaterThanOrEqual(4);

      await failed.getByRole("button", { name: vanishing }).click();
      const drawer = page.getByRole("dialog", { name: "Asset details" });
      await expect(drawer.getByRole("heading", { name: vanishing })).toBeVisible();
      await page.keyboard.press("Escape");
      await expect(drawer).toHaveCount(0);
      await alerts.getByRole("button", { name: "Alert source" }).click();
      await expect(alerts.getByRole("columnheader", { name: "Alert source" })).toHaveAttribute("aria-sort", "ascending");

      const tabs = page.getByRole("tablist", { name: "Jobs of this appliance" });
      await tabs.getByRole("tab", { name: "Recent" }).click();
      const jobs = page.locator("table.jobs");
      await jobs.getByRole("button", { name: "Type" }).click();
      await expect(jobs.getByRole("columnheader", { name: "Type" })).toHaveAttribute("aria-sort", "ascending");
      await expect(jobs.locator("tbody tr").first()).toHaveAttribute("data-kind", "backup");
      await jobs.getByRole("button", { name: "Type" }).click();
      await expect(jobs.getByRole("columnheader", { name: "Type" })).toHaveAttribute("aria-sort", "descending");
      await expect(jobs.locator("tbody tr").first()).toHaveAttribute("data-kind", "verify");
      await tabs.getByRole("tab", { name: "Scheduled" }).click();
      await expect(page.getByText("No asset of this appliance has a backup policy.")).toBeVisible();
      await expect(page.getByRole("table", { name: "Storage devices" })).toContainText("Online");
      await expectAccessible(page, "an appliance's page with its tiles, alerts and job tabs");
      expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
    });

    await test.step("an alert in the Alert Center opens its asset's drawer", async () => {
      await page.locator("button.bell").click();
      const panel = page.getByRole("dialog", { name: "Notifications" });
      const vanishing = path.basename(vanishingDir);
      await panel.getByRole("button", { name: vanishing }).first().click();
      await expect(panel).toHaveCount(0);
      const drawer = page.getByRole("dialog", { name: "Asset details" });
      await expect(drawer.getByRole("heading", { name: vanishing })).toBeVisible();
      await page.keyboard.press("Escape");
      await expect(drawer).toHaveCount(0);
    });

    await test.step("Assets filter by appliance; the appliance page filters by name and removes the ticked asset", async () => {
      const vanishing = path.basename(vanishingDir);
      await page.goto("/protect/assets?appliance_name=no-such-appliance");
      await hydrated(page);
      await expect(page.getByText("No assets match.")).toBeVisible();
      await page.getByLabel("Appliance").fill("UMBRELLA");
      await page.getByRole("button", { name: "Apply" }).click();
      await expect(page).toHaveURL(/appliance_name=UMBRELLA/);
      await expect(page.locator("tbody tr[data-asset]")).toHaveCount(2);

      await page.getByRole("link", { name: "umbrella-nas" }).first().click();
      await expect(page).toHaveURL(new RegExp(`/protect/appliances/${applianceId}$`));
      await page.getByLabel("Asset name").fill(vanishing);
      await page.getByRole("button", { name: "Apply" }).click();
      await expect(page).toHaveURL(new RegExp(`name=${vanishing}`));
      const assets = page.locator("tr[data-asset]");
      await expect(assets).toHaveCount(1);
      await page.getByLabel(`Select ${vanishing}`).check();
      await expect(page.getByTestId("selected-count")).toHaveText("1 selected");
      await page.getByRole("toolbar", { name: "Selected assets" }).getByRole("button", { name: "Remove" }).click();
      const dialog = page.getByRole("dialog", { name: "Remove assets" });
      await expect(dialog).toContainText(vanishing);
      await dialog.getByLabel(/DELETE/).fill("DELETE");
      await dialog.getByRole("button", { name: "Remove" }).click();
      await expect(page.getByRole("status").filter({ hasText: "remove 1 asset" })).toBeVisible();
      await expect(assets).toHaveCount(0, { timeout: 30_000 });
    });
  } finally {
    appliance?.kill();
    for (const dir of [protectedDir, dataDir, vanishingDir, path.dirname(restoreDir), path.dirname(copyDir)]) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});
