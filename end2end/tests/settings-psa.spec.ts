// The PSA cards from the Superuser's side. Autotask, against its emulator and a real appliance: a
// wrong secret is refused with the reason, the right credentials integrate; ticket settings
// come from Autotask's picklists and a test ticket is made; an organization gets its own; two companies are imported into a
// scope and one is mapped to the appliance's organization; the appliance is killed → a ticket
// opens in that company; it returns → the ticket is closed; Organizations maps and imports. ConnectWise
// PSA, against its emulator: wrong keys are named, the right ones integrate, statuses follow the chosen
// board, and a test ticket lands on it. Kaseya BMS and Vorex, against the BMS emulator: a wrong tenant
// is named, type and source come from BMS's lookup tables. The portal runs on its own port with
// offline thresholds of seconds.
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { APIRequestContext, expect, test } from "@playwright/test";
import { PORT } from "../playwright.config";
import { launchServer } from "../server";
import { addScopes, createInstance, expectAccessible, hydrated, signIn } from "./portal";

const PORTAL_PORT = PORT + 70;
const AUTOTASK_PORT = PORT + 71;
const AUTOTASK = `http://127.0.0.1:${AUTOTASK_PORT}`;
const CONNECTWISE_PORT = PORT + 72;
const CONNECTWISE = `http://127.0.0.1:${CONNECTWISE_PORT}`;
const CW_LOGIN = { company: "umbrellacw", publicKey: "cwPublicE2E", privateKey: "cwPrivateE2E", clientId: "e2e-client-0001" };
const UMBRELLA = { homerealm: "umbrella", email: "owner@umbrella.example", password: "Umbrella-Owner-77" };
const BMS_PORT = PORT + 73;
const BMS = `http://127.0.0.1:${BMS_PORT}`;
const BMS_LOGIN = { tenant: "Initech MSP", username: "api@initech.example", password: "bms-e2e-password" };
const INITECH = { homerealm: "initech", email: "owner@initech.example", password: "Initech-Owner-77" };
test.use({ baseURL: `http://127.0.0.1:${PORTAL_PORT}` });

const OWNER = { homerealm: "oscorp", email: "owner@oscorp.example", password: "Oscorp-Owner-77" };
const API_USER = { username: "api@oscorp.example", secret: "autotask-e2e-secret", code: "E2E-TRACKING-ID" };

interface Ticket {
  id: number;
  title: string;
  companyID: number;
  status: number;
  priority: number;
  notes: { title: string }[];
}

let server: ChildProcess | undefined;
let serverData = "";
let emulators: ChildProcess[] = [];

async function startEmulator(args: string[]): Promise<void> {
  const emulator = spawn(path.resolve(__dirname, "../../target/debug/emulators"), args, {
    stdio: ["ignore", "pipe", "inherit"],
  });
  emulators.push(emulator);
  await new Promise<void>((resolve, reject) => {
    emulator.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("listening") && resolve());
    emulator.on("exit", (code) => reject(new Error(`the ${args[0]} emulator exited with ${code}`)));
  });
}

test.beforeAll(async () => {
  await startEmulator(["autotask", "--listen", `127.0.0.1:${AUTOTASK_PORT}`, "--seed", "9", "--companies", "30",
    "--username", API_USER.username, "--secret", API_USER.secret, "--integration-code", API_USER.code]);
  await startEmulator(["connectwise", "--listen", `127.0.0.1:${CONNECTWISE_PORT}`, "--seed", "9", "--companies", "30",
    "--company-id", CW_LOGIN.company, "--public-key", CW_LOGIN.publicKey, "--private-key", CW_LOGIN.privateKey,
    "--client-id", CW_LOGIN.clientId]);
  await startEmulator(["bms", "--listen", `127.0.0.1:${BMS_PORT}`, "--seed", "9", "--companies", "30",
    "--tenant", BMS_LOGIN.tenant, "--username", BMS_LOGIN.username, "--password", BMS_LOGIN.password]);
  const launched = await launchServer(PORTAL_PORT, {
    BACKPLANE_OFFLINE_AFTER_SECS: "4",
    BACKPLANE_OFFLINE_ALARM_AFTER_SECS: "8",
    BACKPLANE_CONNECTWISE_CLIENT_ID: CW_LOGIN.clientId,
  });
  server = launched.child;
  serverData = launched.dataDir;
});

test.afterAll(async () => {
  for (const emulator of emulators) emulator.kill();
  try {
    process.kill(-server!.pid!, "SIGTERM");
  } catch {
    // already gone
  }
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  fs.rmSync(serverData, { recursive: true, force: true });
});

async function call<T>(request: APIRequestContext, endpoint: string, form: Record<string, string>): Promise<T> {
  const response = await request.post(`/api/${endpoint}`, { form });
  expect(response.ok(), `${endpoint}: ${await response.text()}`).toBe(true);
  return (await response.json()) as T;
}

async function tickets(request: APIRequestContext): Promise<Ticket[]> {
  const response = await request.get(`${AUTOTASK}/_emulator/tickets`);
  return (await response.json()) as Ticket[];
}

function startAppliance(dataDir: string, registrationId?: string): ChildProcess {
  const args = ["--portal", `http://127.0.0.1:${PORTAL_PORT}`, "--data-dir", dataDir, "--name", "oscorp-nas", "--heartbeat-secs", "1"];
  if (registrationId) args.push("--registration-id", registrationId);
  const log = fs.openSync(path.join(dataDir, "..", "appliance.log"), "a");
  return spawn(path.resolve(__dirname, "../../target/debug/backplane-appliance"), args, { stdio: ["ignore", "ignore", log] });
}

test("Autotask: integrate, ticket settings, import and map; an offline appliance opens a ticket that closes when it returns", async ({ page }) => {
  test.setTimeout(240_000);
  const secret = createInstance(OWNER, "Oscorp", serverData);
  const applianceRoot = fs.mkdtempSync(path.join(os.tmpdir(), "backplane-e2e-autotask-"));
  const applianceData = path.join(applianceRoot, "appliance");
  let appliance: ChildProcess | undefined;
  try {
    await signIn(page, OWNER, secret);
    await addScopes(page, ["Field"]);
    const card = page.locator("section", { has: page.getByRole("heading", { name: "Autotask" }) });

    await test.step("a wrong secret is refused with the reason; the right one integrates", async () => {
      await page.goto("/settings/integrations");
      await hydrated(page);
      await card.getByLabel("API user name").fill(API_USER.username);
      await card.getByLabel("Password (Secret)").fill("wrong");
      await card.getByLabel("API tracking identifier").fill(API_USER.code);
      await card.getByLabel("Zone lookup address").fill(`${AUTOTASK}/atservicesrest`);
      await card.getByRole("button", { name: "Test & Integrate" }).click();
      await expect(card.getByRole("alert")).toContainText("Autotask refused the password");
      await card.getByLabel("Password (Secret)").fill(API_USER.secret);
      await card.getByRole("button", { name: "Test & Integrate" }).click();
      await expect(page.getByTestId("autotask-status")).toHaveText("Integrated");
      await expect(page.getByText(API_USER.secret)).toHaveCount(0);
    });

    await test.step("ticket settings from Autotask's picklists; a test ticket", async () => {
      await expect(card.getByLabel("Priority of critical alerts")).toHaveValue("1");
      await card.getByLabel("Queue").selectOption({ label: "IT.Level I" });
      await card.getByRole("button", { name: "Create test ticket" }).click();
      await expect(card.getByRole("alert")).toContainText("Choose the default company");
      await card.getByLabel("Default company (organizations not mapped)").selectOption({ label: "Backplane MSP (own company)" });
      await card.getByRole("button", { name: "Create test ticket" }).click();
      await expect(card.getByText(/Test ticket T\d{8}\.\d{4} created in Autotask\./)).toBeVisible();
      await card.getByRole("button", { name: "Save", exact: true }).click();
      await expect(card.getByText("Ticket settings saved.")).toBeVisible();
      const made = await tickets(page.request);
      expect(made.map((t) => [t.title, t.companyID])).toEqual([["Test - Oscorp - Backplane", 0]]);
      await expectAccessible(page, "Settings → Integrations → Autotask");
    });

    const table = page.getByRole("table", { name: "Autotask companies" });
    let imported: string[] = [];
    await test.step("two companies imported into a scope", async () => {
      await expect(table.getByRole("row")).toHaveCount(32);
      const names = await table.locator("tbody tr td:nth-child(2)").allTextContents();
      imported = names.filter((n) => !n.startsWith("Backplane")).slice(0, 2);
      for (const name of imported) {
        await table.getByLabel(`Select ${name}`).check();
      }
      await card.getByLabel("Import into scope").selectOption({ label: "Field" });
      await card.getByRole("button", { name: "Import 2 selected" }).click();
      await expect(card.getByText("2 organization(s) imported.")).toBeVisible();
      for (const name of imported) {
        await expect(table.getByRole("row", { name: new RegExp(`^${name} ${name}`) })).toBeVisible();
      }
    });

    let companyId = 0;
    let mappedName = "";
    await test.step("an appliance's organization mapped to a third company", async () => {
      const registration = await call<{ registration_id: string }>(page.request, "appliances/registration", {
        new_organization: "Oscorp Research",
      });
      appliance = startAppliance(applianceData, registration.registration_id);
      await expect(async () => {
        const list = (await call<{ items: { online: boolean }[] }>(page.request, "appliances/list", {})).items;
        expect(list.length === 1 && list[0].online).toBe(true);
      }).toPass({ timeout: 30_000 });
      await page.reload();
      await hydrated(page);
      const names = await table.locator("tbody tr td:nth-child(2)").allTextContents();
      mappedName = names.filter((n) => !n.startsWith("Backplane") && !imported.includes(n))[0];
      const row = table.getByRole("row").filter({ has: page.getByRole("cell", { name: mappedName, exact: true }) });
      await row.getByRole("button", { name: "Map…" }).click();
      const dialog = page.getByRole("dialog", { name: "Map to an organization" });
      await dialog.getByRole("combobox", { name: "Organization" }).fill("Oscorp");
      await dialog.getByRole("option", { name: "Oscorp Research" }).click();
      await expect(row).toContainText("Oscorp Research");
      const page1 = await call<{ items: { id: number; name: string }[] }>(page.request, "psa/companies", { psa: "autotask", page: "1" });
      companyId = page1.items.find((c) => c.name === mappedName)!.id;
    });

    await test.step("Oscorp Research gets its own settings: critical alerts as Critical", async () => {
      await card.getByRole("combobox", { name: "Organization of the settings" }).fill("Oscorp");
      await card.getByRole("option", { name: "Oscorp Research" }).click();
      const own = card.getByRole("form", { name: "Organization ticket settings" });
      await expect(own.getByTestId("organization-settings-source")).toHaveText("Oscorp Research follows the integration's settings.");
      await own.getByLabel("Priority of critical alerts").selectOption({ label: "Critical" });
      await own.getByRole("button", { name: "Overwrite settings" }).click();
      await expect(own.getByTestId("organization-settings-source")).toHaveText("Oscorp Research has its own settings.");
    });

    await test.step("the appliance goes offline: a ticket opens in the mapped company", async () => {
      appliance!.kill("SIGKILL");
      await expect(async () => {
        const open = (await tickets(page.request)).filter((t) => t.title.startsWith("Appliance offline"));
        expect(open.map((t) => [t.title, t.companyID, t.status, t.priority])).toEqual([
          ["Appliance offline - Oscorp Research - oscorp-nas", companyId, 1, 4],
        ]);
      }).toPass({ timeout: 60_000 });
      await page.reload();
      await hydrated(page);
      await expect(page.getByTestId("autotask-open")).toHaveText("1");
    });

    await test.step("the appliance returns: the ticket is closed with a note", async () => {
      appliance = startAppliance(applianceData);
      await expect(async () => {
        const offline = (await tickets(page.request)).filter((t) => t.title.startsWith("Appliance offline"));
        expect(offline.map((t) => [t.status, t.notes.map((n) => n.title)])).toEqual([[5, ["Resolved"]]]);
      }).toPass({ timeout: 60_000 });
      await page.reload();
      await hydrated(page);
      await expect(page.getByTestId("autotask-open")).toHaveText("0");
    });

    await test.step("Organizations shows each organization's Autotask company; Map… changes it", async () => {
      await page.goto("/organizations");
      await hydrated(page);
      const row = (name: string) => page.getByRole("row").filter({ has: page.getByRole("link", { name, exact: true }) });
      await expect(page.getByRole("columnheader", { name: "Autotask" })).toBeVisible();
      await expect(row("Oscorp Research")).toContainText(mappedName);
      const [first] = imported;
      await expect(row(first)).toContainText(first);
      await row(first).getByRole("button", { name: `Map ${first} in Autotask` }).click();
      let dialog = page.getByRole("dialog", { name: `Map ${first} to a company in Autotask` });
      await dialog.getByRole("button", { name: "Unmap" }).click();
      await expect(row(first).getByRole("cell").nth(5)).toHaveText(/^—/);
      await row(first).getByRole("button", { name: `Map ${first} in Autotask` }).click();
      dialog = page.getByRole("dialog", { name: `Map ${first} to a company in Autotask` });
      await dialog.getByRole("button", { name: first, exact: true }).click();
      await expect(row(first).getByRole("cell").nth(5)).toHaveText(new RegExp(`^${first}`));
      await expectAccessible(page, "Organizations with a PSA column");
    });

    await test.step("Organizations → Import from Autotask: a searched company becomes an organization of a scope", async () => {
      const page1 = await call<{ items: { name: string; mapped_to: unknown }[] }>(page.request, "psa/companies", { psa: "autotask", page: "1" });
      const next = page1.items.find((c) => !c.mapped_to && !c.name.startsWith("Backplane"))!.name;
      await page.getByRole("button", { name: "Import from Autotask" }).click();
      const dialog = page.getByRole("dialog", { name: "Import organizations from Autotask" });
      await dialog.getByLabel("Search companies").fill(next);
      await dialog.getByLabel("Search companies").press("Tab");
      await expect(dialog.getByRole("checkbox")).toHaveCount(1);
      await dialog.getByRole("checkbox", { name: next }).check();
      await dialog.getByLabel("Into scope").selectOption({ label: "Field" });
      await expectAccessible(page, "Organizations → Import from Autotask");
      await dialog.getByRole("button", { name: "Import 1 selected" }).click();
      await expect(dialog).toBeHidden();
      const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: next, exact: true }) });
      await expect(row).toContainText("Field");
      await expect(row.getByRole("cell").nth(5)).toHaveText(new RegExp(`^${next}`));
    });
  } finally {
    appliance?.kill();
    fs.rmSync(applianceRoot, { recursive: true, force: true });
  }
});

interface ConnectWiseTicket {
  summary: string;
  board: { name: string };
  status: { name: string };
  company: { id: number };
}

test("ConnectWise PSA: wrong keys named, integrate, statuses follow the board, a test ticket on it", async ({ page }) => {
  const secret = createInstance(UMBRELLA, "Umbrella", serverData);
  await signIn(page, UMBRELLA, secret);
  const card = page.locator("section", { has: page.getByRole("heading", { name: "ConnectWise PSA" }) });
  await page.goto("/settings/integrations");
  await hydrated(page);

  await test.step("wrong keys are refused with the reason; the right ones integrate", async () => {
    await card.getByLabel("Public key").fill(CW_LOGIN.publicKey);
    await card.getByLabel("Private key").fill("wrong");
    await card.getByLabel("Company ID").fill(CW_LOGIN.company);
    await card.getByLabel("Site", { exact: true }).fill(CONNECTWISE);
    await card.getByRole("button", { name: "Test & Integrate" }).click();
    await expect(card.getByRole("alert")).toContainText("ConnectWise refused the API keys");
    await card.getByLabel("Private key").fill(CW_LOGIN.privateKey);
    await card.getByRole("button", { name: "Test & Integrate" }).click();
    await expect(page.getByTestId("connectwise-status")).toHaveText("Integrated");
    await expect(page.getByText(CW_LOGIN.privateKey)).toHaveCount(0);
  });

  await test.step("statuses follow the chosen board; a test ticket lands on it", async () => {
    const board = card.getByLabel("Board");
    const closeStatus = card.getByLabel("Close ticket status");
    await expect(board.locator("option:checked")).toHaveText("Alerts");
    await expect(closeStatus.locator("option:checked")).toHaveText("Resolved");
    await board.selectOption({ label: "Help Desk" });
    await expect(closeStatus.locator("option")).toHaveText(["Do not close automatically", "New", "In Progress", "Completed", "Closed"]);
    await closeStatus.selectOption({ label: "Completed" });
    await card.getByLabel("Status of new tickets").selectOption({ label: "New" });
    await card.getByLabel("Default company (organizations not mapped)").selectOption({ index: 1 });
    await card.getByRole("button", { name: "Create test ticket" }).click();
    await expect(card.getByText(/Test ticket #\d+ created in ConnectWise PSA\./)).toBeVisible();
    await card.getByRole("button", { name: "Save", exact: true }).click();
    await expect(card.getByText("Ticket settings saved.")).toBeVisible();
    const made = (await (await page.request.get(`${CONNECTWISE}/_emulator/tickets`)).json()) as ConnectWiseTicket[];
    expect(made.map((t) => [t.summary, t.board.name, t.status.name])).toEqual([["Test - Umbrella - Backplane", "Help Desk", "New"]]);
    await page.reload();
    await hydrated(page);
    await expect(card.getByLabel("Close ticket status").locator("option:checked")).toHaveText("Completed");
  });
});

interface BmsTicket {
  title: string;
  accountId: number;
  locationName: string;
  typeId: number;
  sourceId: number;
}

test("Kaseya BMS and Vorex: a wrong tenant named, ticket type and source from BMS's lookup tables, a test ticket", async ({ page }) => {
  const secret = createInstance(INITECH, "Initech", serverData);
  await signIn(page, INITECH, secret);
  await page.goto("/settings/integrations");
  await hydrated(page);
  const integrate = async (label: string, tenant: string) => {
    const card = page.locator("section", { has: page.getByRole("heading", { name: label, exact: true }) });
    await card.getByLabel("User name").fill(BMS_LOGIN.username);
    await card.getByLabel("Password", { exact: true }).fill(BMS_LOGIN.password);
    await card.getByLabel("Tenant (company name)").fill(tenant);
    await card.getByLabel("API address").fill(BMS);
    await card.getByRole("button", { name: "Test & Integrate" }).click();
    return card;
  };

  await test.step("a wrong tenant is refused by name; the right one integrates", async () => {
    const card = await integrate("Kaseya BMS", "Initrode");
    await expect(card.getByRole("alert")).toContainText("Tenant 'Initrode' was not found");
    await card.getByLabel("Tenant (company name)").fill(BMS_LOGIN.tenant);
    await card.getByRole("button", { name: "Test & Integrate" }).click();
    await expect(page.getByTestId("bms-status")).toHaveText("Integrated");
    await expect(page.getByText(BMS_LOGIN.password)).toHaveCount(0);
  });

  await test.step("type, source and the default account's location from BMS; a test ticket carries them", async () => {
    const card = page.locator("section", { has: page.getByRole("heading", { name: "Kaseya BMS", exact: true }) });
    await expect(card.getByLabel("Ticket type").locator("option")).toHaveText(["Choose one", "Alert", "Service Request", "Incident"]);
    await card.getByLabel("Ticket type").selectOption({ label: "Incident" });
    await card.getByLabel("Ticket source").selectOption({ label: "Monitoring" });
    // An account with a branch office besides its main location.
    const accounts = (await call<{ items: { id: number; name: string }[] }>(page.request, "psa/companies", { psa: "bms", page: "1" })).items;
    let account = accounts[0];
    for (const candidate of accounts) {
      const locations = await call<unknown[]>(page.request, "psa/locations", { psa: "bms", company_id: String(candidate.id) });
      if (locations.length > 1) {
        account = candidate;
        break;
      }
    }
    await card.getByLabel("Default company (organizations not mapped)").selectOption({ label: account.name });
    const location = card.getByLabel("Location of the default company's tickets");
    await expect(location.locator("option")).toHaveText(["Its main location", "Main", "Branch Office"]);
    await location.selectOption({ label: "Branch Office" });
    await card.getByRole("button", { name: "Create test ticket" }).click();
    await expect(card.getByText(/Test ticket \S+ created in Kaseya BMS\./)).toBeVisible();
    const made = (await (await page.request.get(`${BMS}/_emulator/tickets`)).json()) as BmsTicket[];
    expect(made.map((t) => [t.title, t.accountId, t.locationName, t.typeId, t.sourceId])).toEqual([
      ["Test - Initech - Backplane", account.id, "Branch Office", 33, 41],
    ]);
    await card.getByRole("button", { name: "Save", exact: true }).click();
    await expect(card.getByText("Ticket settings saved.")).toBeVisible();
    await page.reload();
    await hydrated(page);
    await expect(card.getByLabel("Location of the default company's tickets").locator("option:checked")).toHaveText("Branch Office");
    await expectAccessible(page, "Settings → Integrations → Kaseya BMS");
  });

  await test.step("Vorex integrates on its own card", async () => {
    await integrate("Vorex", BMS_LOGIN.tenant);
    await expect(page.getByTestId("vorex-status")).toHaveText("Integrated");
  });
});
