// The Dashboard and the Alert Center with a real appliance and a real SMTP conversation: the
// appliance is killed → the Appliances tile and the bell change without a reload → the alarm
// is e-mailed → the appliance returns → the alert resolves and a threaded "Re:" mail follows.
// A Monitor of another scope sees none of it. The portal runs on its own port here, with SMTP
// and offline thresholds of seconds.
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { APIRequestContext, expect, Page, test } from "@playwright/test";
import { PORT } from "../playwright.config";
import { launchServer } from "../server";
import { addScopes, createInstance, diagnose, expectAccessible, hydrated, invitedUser, signIn } from "./portal";
import { SmtpSink } from "./smtp-sink";
import { WebhookReceiver } from "./webhook-receiver";

const ALERTS_PORT = PORT + 50;
test.use({ baseURL: `http://127.0.0.1:${ALERTS_PORT}` });

const OWNER = { homerealm: "wayne", email: "owner@wayne.example", password: "Wayne-Owner-42" };
const MONITOR = { email: "south@wayne.example", password: "South-Watch-42", role: "Monitor", scope: "South" };
const SUBJECT = "Wayne Alert Center: Conditional Alarm - Appliance wayne-nas is offline";

const sink = new SmtpSink();
const receiver = new WebhookReceiver();
let receiverUrl = "";
let server: ChildProcess | undefined;
let serverData = "";

test.beforeAll(async () => {
  const smtpPort = await sink.start();
  receiverUrl = await receiver.start();
  const launched = await launchServer(ALERTS_PORT, {
    BACKPLANE_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    BACKPLANE_SMTP_FROM: "Backplane <no-reply@wayne.example>",
    BACKPLANE_MAIL_POLL_SECS: "1",
    BACKPLANE_OFFLINE_AFTER_SECS: "4",
    BACKPLANE_OFFLINE_ALARM_AFTER_SECS: "8",
  });
  server = launched.child;
  serverData = launched.dataDir;
});

test.afterAll(async () => {
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-server!.pid!, name);
    } catch {
      // already gone
    }
  };
  signal("SIGTERM");
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  signal("SIGKILL");
  sink.close();
  receiver.close();
  fs.rmSync(serverData, { recursive: true, force: true });
});

async function call<T>(request: APIRequestContext, endpoint: string, form: Record<string, string>): Promise<T> {
  const response = await request.post(`/api/${endpoint}`, { form });
  expect(response.ok(), `${endpoint}: ${await response.text()}`).toBe(true);
  return (await response.json()) as T;
}

function startAppliance(origin: string, dataDir: string, registrationId?: string): ChildProcess {
  const args = ["--portal", origin, "--data-dir", dataDir, "--name", "wayne-nas", "--heartbeat-secs", "1"];
  if (registrationId) args.push("--registration-id", registrationId);
  const log = fs.openSync(path.join(dataDir, "..", "appliance.log"), "a");
  return spawn(path.resolve(__dirname, "../../target/debug/backplane-appliance"), args, { stdio: ["ignore", "ignore", log] });
}

const tile = (page: Page, name: string) => page.locator(`[data-tile=${name}]`);
const bell = (page: Page) => page.locator(".bell");

test("appliance offline → tile, bell and mail; back online → resolved with a Re: mail; other scopes see nothing", async ({ page, browser }) => {
  test.setTimeout(240_000);
  const secret = createInstance(OWNER, "Wayne", serverData);
  const applianceRoot = fs.mkdtempSync(path.join(os.tmpdir(), "backplane-e2e-alerts-"));
  const applianceData = path.join(applianceRoot, "appliance");
  let appliance: ChildProcess | undefined;
  try {
    await signIn(page, OWNER, secret);
    await addScopes(page, ["North", "South"]);

    await test.step("Settings → Alerts: an e-mail recipient", async () => {
      await page.goto("/settings/alerts");
      await hydrated(page);
      await page.getByLabel("E-mail address").fill("noc@localhost");
      await page.getByRole("button", { name: "Add Email" }).click();
      await expect(page.getByText("Enter a valid e-mail address.")).toBeVisible();
      await page.getByLabel("E-mail address").fill("NOC@wayne.example");
      await page.getByRole("button", { name: "Add Email" }).click();
      await expect(page.locator('[data-recipient="noc@wayne.example"]')).toBeVisible();
    });

    await test.step("Settings → Webhooks: an endpoint for every event, its secret shown once", async () => {
      await page.goto("/settings/webhooks");
      await hydrated(page);
      await expect(page.getByText("No webhook endpoints yet.")).toBeVisible();
      await page.getByRole("button", { name: "+ New" }).click();
      const dialog = page.getByRole("dialog", { name: "New webhook endpoint" });
      await dialog.getByLabel("URL").fill("http://hooks.example.com/in");
      await dialog.getByRole("button", { name: "Save" }).click();
      await expect(dialog.getByRole("alert")).toContainText("Use https://");
      await dialog.getByLabel("URL").fill(receiverUrl);
      await dialog.getByRole("button", { name: "Save" }).click();
      await expect(dialog.getByRole("heading", { name: "Webhook endpoint created" })).toBeVisible();
      receiver.secret = (await dialog.getByTestId("Signing secret").textContent())!.trim();
      expect(receiver.secret).toMatch(/^whsec_/);
      await expectAccessible(page, "the new webhook endpoint dialog");
      await dialog.getByRole("button", { name: "Close" }).click();
      await expect(page.getByRole("row", { name: new RegExp(receiverUrl) })).toContainText("Enabled");
      await expect(page.getByText(receiver.secret)).toHaveCount(0);
    });

    await test.step("an appliance in North, online", async () => {
      const scopes = await call<{ id: number; name: string }[]>(page.request, "scopes/list", {});
      const north = scopes.find((s) => s.name === "North")!;
      const registration = await call<{ registration_id: string }>(page.request, "appliances/registration", {
        new_organization: "Wayne Corp",
        scope: String(north.id),
      });
      appliance = startAppliance(`http://127.0.0.1:${ALERTS_PORT}`, applianceData, registration.registration_id);
      await expect(async () => {
        const list = (await call<{ items: { online: boolean }[] }>(page.request, "appliances/list", {})).items;
        expect(list.length === 1 && list[0].online).toBe(true);
      }).toPass({ timeout: 30_000 });
    });

    await test.step("Settings → Conditional alarms: global thresholds and a custom one for Wayne Corp", async () => {
      await page.goto("/settings/alarms");
      await hydrated(page);
      const global = page.locator("[data-section=global]");
      // A new instance alarms on backups from the start: a day, until changed.
      await expect(page.getByText("Alarms start once the global thresholds are saved.")).toBeHidden();
      const backups = global.locator("[data-block=backups]");
      await expect(backups.getByLabel("Days")).toHaveValue("1");
      await expect(backups.getByLabel("On")).toBeChecked();
      // Turned off, the Dashboard says so to the Superuser and leads back here.
      await backups.getByLabel("On").uncheck();
      await global.getByRole("button", { name: "Save" }).click();
      await expect(global.getByText("Saved.", { exact: true })).toBeVisible();
      await page.goto("/");
      await hydrated(page);
      const hint = page.locator("[data-hint=backup-alarms-off]");
      await expect(hint).toContainText("Backup alarms are off");
      await hint.getByRole("link", { name: "Set a global backup threshold" }).click();
      await expect(page).toHaveURL(/\/settings\/alarms$/);
      await backups.getByLabel("On").check();
      await backups.getByLabel("Days").fill("0");
      await backups.getByLabel("Hours").fill("8");
      await global.getByRole("button", { name: "Save" }).click();
      await expect(global.getByText("Saved.", { exact: true })).toBeVisible();
      await page.goto("/");
      await hydrated(page);
      await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
      await expect(page.locator("[data-hint=backup-alarms-off]")).toHaveCount(0);
      await page.goto("/settings/alarms");
      await hydrated(page);

      await page.getByRole("button", { name: "+ Create New" }).click();
      const editor = page.locator("[data-editor=new]");
      await editor.getByLabel("Title").fill("Night shift");
      await editor.locator("[data-block=backups]").getByLabel("Days").fill("0");
      await editor.locator("[data-block=backups]").getByLabel("Hours").fill("12");
      await editor.getByRole("combobox", { name: "Add an organization" }).fill("wayne");
      await editor.getByRole("option", { name: "Wayne Corp" }).click();
      await expect(editor.locator('tr[data-organization="Wayne Corp"]').getByRole("button", { name: "Remove" })).toBeVisible();
      await editor.getByRole("button", { name: "Save" }).click();
      const card = page.locator('[data-threshold="Night shift"]');
      await expect(card).toContainText("12 hours");
      await expect(card).toContainText("1 Organizations");
      await expectAccessible(page, "Settings → Conditional alarms");
    });

    await test.step("the Dashboard: one appliance online, no alerts; the chart is in the server's HTML", async () => {
      const html = await (await page.request.get("/")).text();
      expect(html).toMatch(/<svg[^>]*class="chart"/);
      expect(html).toMatch(/<g data-day="\d{4}-\d{2}-\d{2}" data-success="0" data-missed="0">/);
      await page.goto("/");
      await hydrated(page);
      await expect(tile(page, "appliances").locator("[data-online]")).toHaveAttribute("data-online", "1");
      await expect(tile(page, "appliances").locator("[data-offline]")).toHaveAttribute("data-offline", "0");
      await expect(bell(page)).toHaveAttribute("data-alert-count", "0");
    });

    const monitor = await invitedUser(browser, page, OWNER.homerealm, MONITOR);
    await monitor.goto("/");
    await hydrated(monitor);
    await expect(tile(monitor, "appliances").locator("[data-online]")).toHaveAttribute("data-online", "0");

    await test.step("the appliance dies: the tile and the bell change without a reload", async () => {
      await page.goto("/");
      await hydrated(page);
      await expect(tile(page, "appliances").locator("[data-offline]")).toHaveAttribute("data-offline", "0");
      await page.evaluate(() => ((window as any).sameDocument = true));
      appliance!.kill("SIGKILL");
      await expect(tile(page, "appliances").locator("[data-offline]")).toHaveAttribute("data-offline", "1", { timeout: 30_000 });
      await expect(bell(page)).toHaveAttribute("data-alert-count", "1", { timeout: 45_000 });
      await expect(tile(page, "alerts").locator("[data-alerts]")).toHaveAttribute("data-alerts", "1");
      expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
      await bell(page).click();
      const panel = page.getByRole("dialog", { name: "Notifications" });
      await expect(panel).toContainText("Appliance has not been seen in over 8 seconds.");
      await expect(panel.getByRole("link", { name: "wayne-nas" })).toHaveAttribute("href", /\/protect\/appliances\/\d+/);
      await expectAccessible(page, "the Alert Center");
    });

    await test.step("the alarm is e-mailed to the recipient", async () => {
      await expect.poll(() => sink.messages.filter((m) => m.includes(`Subject: ${SUBJECT}`)).length, { timeout: 30_000 }).toBe(1);
      const raised = sink.messages.find((m) => m.includes(`Subject: ${SUBJECT}`))!;
      expect(raised).toContain("To: noc@wayne.example");
      expect(raised).toContain("Organization: Wayne Corp");
      expect(raised).toContain(`View in Portal: http://127.0.0.1:${ALERTS_PORT}/protect/appliances/`);
    });

    await test.step("the Monitor of South sees none of it", async () => {
      await expect(bell(monitor)).toHaveAttribute("data-alert-count", "0");
      await expect(tile(monitor, "appliances").locator("[data-offline]")).toHaveAttribute("data-offline", "0");
      const groups = await monitor.request.post("/api/alerts/groups", { form: {} });
      expect(await groups.json()).toEqual([]);
      await bell(monitor).click();
      await expect(monitor.getByRole("dialog", { name: "Notifications" })).toContainText("No unresolved alerts.");
    });

    await test.step("the appliance returns: the alert resolves and a threaded Re: mail follows", async () => {
      appliance = startAppliance(`http://127.0.0.1:${ALERTS_PORT}`, applianceData);
      await expect(tile(page, "appliances").locator("[data-online]")).toHaveAttribute("data-online", "1", { timeout: 30_000 });
      await expect(bell(page)).toHaveAttribute("data-alert-count", "0", { timeout: 30_000 });
      await expect(page.getByRole("dialog", { name: "Notifications" })).toContainText("No unresolved alerts.");
      await expect.poll(() => sink.messages.filter((m) => m.includes(`Subject: Re: ${SUBJECT}`)).length, { timeout: 30_000 }).toBe(1);
      const raised = sink.messages.find((m) => m.includes(`Subject: ${SUBJECT}`))!;
      const cleared = sink.messages.find((m) => m.includes(`Subject: Re: ${SUBJECT}`))!;
      const messageId = raised.match(/^Message-ID: (\S+)/m)![1];
      expect(cleared).toContain(`In-Reply-To: ${messageId}`);
      expect(cleared).toContain("Appliance wayne-nas is online.");
      expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);
    });
    await test.step("the webhook receiver got each event once, signed; the log says Delivered", async () => {
      const expected = ["alert.raised", "alert.resolved", "appliance.offline", "appliance.online", "appliance.online"];
      await expect.poll(() => receiver.types(), { timeout: 30_000 }).toEqual(expected);
      expect(receiver.deliveries.every((d) => d.signatureValid)).toBe(true);
      expect(new Set(receiver.deliveries.map((d) => d.id)).size).toBe(receiver.deliveries.length);
      const raised = receiver.deliveries.find((d) => d.type === "alert.raised")!;
      expect(raised.payload.data.kind).toBe("appliance_offline");
      await page.goto("/settings/webhooks");
      await hydrated(page);
      await page.getByRole("button", { name: "Deliveries" }).click();
      const log = page.getByRole("table", { name: "Deliveries" });
      await expect(log.getByRole("row", { name: /Alert raised/ })).toContainText("Delivered");
      await expect(log.getByRole("row", { name: /Alert raised/ })).toContainText(raised.id);
    });
    await monitor.context().close();
  } catch (error) {
    console.log(fs.readFileSync(path.join(applianceRoot, "appliance.log"), "utf8"));
    await diagnose(`http://127.0.0.1:${ALERTS_PORT}`, server!.pid!);
    throw error;
  } finally {
    appliance?.kill();
    fs.rmSync(applianceRoot, { recursive: true, force: true });
  }
});
