// Kaseya VSA 9 from the Superuser's side, against the VSA emulator: a wrong token is refused
// with the reason and nothing is stored; the right one completes the integration (the token is
// never shown again); the module package downloads as UniView.vsaz; a Superuser's VSA e-mail
// actions are added, edited and removed, and another Superuser does not see them. (Alarms
// reaching VSA exactly once through outages are proven in integrations/tests/vsa.rs.)
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { expect, Page, test } from "@playwright/test";
import { PORT } from "../playwright.config";
import { createInstance, expectAccessible, hydrated, invitedUser, signIn } from "./portal";

const OWNER = { homerealm: "massive", email: "owner@massive.example", password: "Massive-Owner-42" };
const VSA_PORT = PORT + 100;
const VSA = `http://127.0.0.1:${VSA_PORT}`;
const USER = "backplane-api";
const TOKEN = "2f0c6a0e-8d3b-4c1e-9a7f-e2e0000000a5";
let emulator: ChildProcess | undefined;

test.beforeAll(async () => {
  emulator = spawn(
    path.resolve(__dirname, "../../target/debug/emulators"),
    ["vsa", "--listen", `127.0.0.1:${VSA_PORT}`, "--username", USER, "--token", TOKEN],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    emulator!.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("listening") && resolve());
    emulator!.on("exit", (code) => reject(new Error(`the VSA emulator exited with ${code}`)));
  });
});

test.afterAll(() => emulator?.kill());

async function vsaCard(page: Page) {
  await page.goto("/settings/integrations");
  await hydrated(page);
  const card = page.getByTestId("vsa");
  await expect(card.getByLabel("VSA server address")).toBeVisible();
  return card;
}

test("Kaseya VSA: integrate with a tested token, download the module, keep one's own e-mail actions", async ({ page, browser }) => {
  const secret = createInstance(OWNER, "Massive Dynamic");
  await signIn(page, OWNER, secret);
  const card = await vsaCard(page);

  await test.step("a wrong token is refused with the reason; the right one completes the integration", async () => {
    await card.getByLabel("VSA server address").fill(VSA);
    await card.getByLabel("REST API user").fill(USER);
    await card.getByLabel("Personal access token").fill("not-the-token");
    await card.getByRole("button", { name: "Test & Save" }).click();
    await expect(card.getByRole("alert")).toContainText("VSA refused the user name or personal access token");
    await expect(card.getByLabel("REST API user")).toHaveValue(USER);
    await card.getByLabel("Personal access token").fill(TOKEN);
    await card.getByLabel("Replication Offsite (conditional alarms on copies)").uncheck();
    await card.getByRole("button", { name: "Test & Save" }).click();
    await expect(card.getByTestId("vsa-status")).toHaveText("Integration complete");
    await expect(card.getByTestId("vsa-pending")).toHaveText("0");
    await expect(page.getByText(TOKEN)).toHaveCount(0);
    await expect(card.getByLabel("Replication Offsite (conditional alarms on copies)")).not.toBeChecked();
    await expect(card.getByLabel("Backups (conditional alarms on backups)")).toBeChecked();
  });

  await test.step("Download Manifest gives UniView.vsaz, which opens the portal's login by homerealm", async () => {
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      card.getByRole("link", { name: "Download Manifest" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe("UniView.vsaz");
    const bytes = fs.readFileSync(await download.path());
    expect(bytes.subarray(0, 2).toString()).toBe("PK");
    expect(bytes.toString("latin1")).toContain(`/login?homerealm={homerealm}`);
  });

  await test.step("e-mail actions: added, refused when an address is wrong, edited, removed", async () => {
    const actions = card.getByRole("table", { name: "My VSA e-mail actions" });
    await card.getByLabel("Recipients (separated by commas or spaces)").fill("noc@massive.example oops");
    await card.getByRole("button", { name: "Add e-mail action" }).click();
    await expect(card.getByRole("alert")).toContainText("“oops” is not an e-mail address.");
    await card.getByLabel("Recipients (separated by commas or spaces)").fill("noc@massive.example, Lead@Massive.example");
    await card.getByRole("button", { name: "Add e-mail action" }).click();
    await expect(actions.getByRole("row")).toHaveCount(2);
    await expect(actions).toContainText("Alert (default), Email: noc@massive.example, lead@massive.example");
    await actions.getByRole("button", { name: "Edit" }).click();
    await card.getByLabel("Alarm category").selectOption({ label: "Replication Offsite" });
    await card.getByLabel("Recipients (separated by commas or spaces)").fill("copies@massive.example");
    await card.getByRole("button", { name: "Save e-mail action" }).click();
    await expect(actions).toContainText("Conditional Alarms — Replication Offsite");
    await expect(actions).toContainText("Email: copies@massive.example");
    await expectAccessible(page, "Settings → Integrations with Kaseya VSA");
  });

  await test.step("another Superuser does not see them", async () => {
    const other = await invitedUser(browser, page, OWNER.homerealm, {
      email: "second@massive.example",
      password: "Massive-Second-42",
      role: "Superuser",
    });
    const theirs = await vsaCard(other);
    await expect(theirs.getByTestId("vsa-status")).toHaveText("Integration complete");
    await expect(theirs.getByText("No e-mail actions: alarms reach VSA as alarms only.")).toBeVisible();
    await other.context().close();
  });

  await test.step("the owner removes theirs", async () => {
    await vsaCard(page);
    const actions = card.getByRole("table", { name: "My VSA e-mail actions" });
    await actions.getByRole("button", { name: "Remove" }).click();
    await expect(card.getByText("No e-mail actions: alarms reach VSA as alarms only.")).toBeVisible();
  });
});
