// IT Glue from the Superuser's side, against the IT Glue emulator: a wrong key is refused with
// the reason, the right one integrates; organizations are imported into a scope and linked;
// Sync now reports; Delete needs DELETE typed and leaves the organizations.
import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { PORT } from "../playwright.config";
import { addScopes, createInstance, expectAccessible, hydrated, signIn } from "./portal";

const OWNER = { homerealm: "cyberdyne", email: "owner@cyberdyne.example", password: "Cyberdyne-Owner-1" };
const ITGLUE_PORT = PORT + 60;
const KEY = "ITG.e2e-key";
let emulator: ChildProcess | undefined;

test.beforeAll(async () => {
  emulator = spawn(
    path.resolve(__dirname, "../../target/debug/emulators"),
    ["itglue", "--listen", `127.0.0.1:${ITGLUE_PORT}`, "--seed", "4", "--organizations", "150", "--api-key", KEY],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    emulator!.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("listening") && resolve());
    emulator!.on("exit", (code) => reject(new Error(`the IT Glue emulator exited with ${code}`)));
  });
});

test.afterAll(() => emulator?.kill());

test("IT Glue: integrate with a tested key, import and link organizations, sync, delete", async ({ page }) => {
  const secret = createInstance(OWNER, "Cyberdyne");
  await signIn(page, OWNER, secret);
  await addScopes(page, ["Field"]);
  const itglue = page.locator("section", { has: page.getByRole("heading", { name: "IT Glue" }) });

  await test.step("a wrong key is refused with the reason; the right one integrates", async () => {
    await page.goto("/settings");
    await hydrated(page);
    await page.getByRole("link", { name: "Integrations" }).click();
    await expect(page.getByRole("heading", { name: "IT Glue" })).toBeVisible();
    await itglue.getByLabel("API address").fill(`http://127.0.0.1:${ITGLUE_PORT}`);
    await itglue.getByLabel("API key").fill("ITG.wrong");
    await itglue.getByRole("button", { name: "Test & Integrate" }).click();
    await expect(itglue.getByRole("alert")).toContainText("IT Glue refused the API key");
    await itglue.getByLabel("API key").fill(KEY);
    await itglue.getByRole("button", { name: "Test & Integrate" }).click();
    await expect(page.getByTestId("itglue-status")).toHaveText("Integrated");
    await expect(page.getByText(KEY)).toHaveCount(0);
  });

  const table = page.getByRole("table", { name: "IT Glue organizations" });
  let imported: string[] = [];
  await test.step("IT Glue's organizations, 100 a page; two imported into a scope", async () => {
    await expect(table.getByRole("row")).toHaveCount(101);
    await expect(page.getByText("Page 1 of 2")).toBeVisible();
    const names = await table.locator("tbody tr td:nth-child(2)").allTextContents();
    imported = names.slice(0, 2);
    for (const name of imported) {
      await table.getByLabel(`Select ${name}`).check();
    }
    await itglue.getByLabel("Import into scope").selectOption({ label: "Field" });
    await itglue.getByRole("button", { name: "Import 2 selected" }).click();
    await expect(itglue.getByText("2 organization(s) imported.")).toBeVisible();
    for (const name of imported) {
      await expect(table.getByRole("row", { name: new RegExp(`^${name} ${name}`) })).toBeVisible();
    }
    await expectAccessible(page, "Settings → Integrations");
  });

  await test.step("the imported organizations are the portal's, in the scope", async () => {
    await page.goto("/organizations");
    await hydrated(page);
    for (const name of imported) {
      await expect(page.getByRole("row", { name: new RegExp(name) })).toContainText("Field");
    }
  });

  await test.step("Sync now reports what it wrote; Link by name finds nothing more", async () => {
    await page.goto("/settings/integrations");
    await hydrated(page);
    await itglue.getByRole("button", { name: "Sync now" }).click();
    await expect(page.getByText("0 configuration(s) written.", { exact: true })).toBeVisible();
    await expect(page.getByTestId("itglue-last-sync")).toContainText("0 configuration(s) written");
    await itglue.getByRole("button", { name: "Link by name" }).click();
    await expect(page.getByText("0 organization(s) linked by name.")).toBeVisible();
  });

  await test.step("Delete needs DELETE typed; the organizations stay", async () => {
    await itglue.getByRole("button", { name: "Delete" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete the IT Glue integration" });
    await expectAccessible(page, "the Delete IT Glue integration dialog");
    await dialog.getByLabel("Type DELETE to confirm").fill("DELETE");
    await dialog.getByRole("button", { name: "Delete" }).click();
    await expect(itglue.getByRole("button", { name: "Test & Integrate" })).toBeVisible();
    await page.goto("/organizations");
    await hydrated(page);
    await expect(page.getByRole("row", { name: new RegExp(imported[0]) })).toBeVisible();
  });
});
