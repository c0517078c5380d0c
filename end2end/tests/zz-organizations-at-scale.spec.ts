// An MSP with 2,000 customers: every organization can be found and chosen (nothing silently cut
// at 500), by typing part of its name, with the keyboard alone. Runs last: it fills an instance
// of its own with organizations.
import { expect, test } from "@playwright/test";
import { createInstance, hydrated, signIn } from "./portal";

const OWNER = { homerealm: "zenith", email: "owner@zenith.example", password: "Zenith-Owner-1" };
const COUNT = 2_000;

test("2,000 organizations: the picker finds any of them as you type, by keyboard", async ({ page }) => {
  test.setTimeout(300_000);
  const secret = createInstance(OWNER, "Zenith");
  await signIn(page, OWNER, secret);

  await test.step(`create ${COUNT} organizations`, async () => {
    const names = Array.from({ length: COUNT }, (_, i) => `Client ${String(i + 1).padStart(4, "0")}`);
    for (let start = 0; start < names.length; start += 25) {
      await Promise.all(
        names.slice(start, start + 25).map(async (name) => {
          const response = await page.request.post("/api/orgs/create", { form: { name, scope: "" } });
          expect(response.ok(), `${name}: ${await response.text()}`).toBe(true);
        }),
      );
    }
    await page.goto("/organizations?per_page=10");
    await hydrated(page);
    const pager = page.getByRole("navigation", { name: "Pages" });
    await expect(pager).toContainText(`${COUNT} in all · page 1 of ${COUNT / 10}`);
    await pager.getByRole("link", { name: "25", exact: true }).click();
    await expect(page).toHaveURL(/per(_|%5F)page=25/);
    await expect(pager).toContainText(`page 1 of ${COUNT / 25}`);
    await expect(page.locator("table.list tbody tr")).toHaveCount(25);
  });

  await test.step("Jobs → Recent: type, arrow down, Enter, Apply — the 1,999th organization is the filter", async () => {
    await page.goto("/jobs");
    await hydrated(page);
    const picker = page.getByRole("combobox", { name: "Organization" });
    await picker.fill("1999");
    await expect(page.getByRole("option", { name: "Client 1999" })).toBeVisible();
    await picker.press("ArrowDown");
    await picker.press("Enter");
    await expect(picker).toHaveValue("Client 1999");
    await page.getByRole("button", { name: "Apply" }).click();
    await expect(page).toHaveURL(/organization=\d+/);
    await hydrated(page);
    await expect(page.getByRole("combobox", { name: "Organization" })).toHaveValue("Client 1999");
    await page.getByRole("combobox", { name: "Organization" }).press("Escape");
  });

  await test.step("the Add appliance wizard reaches the last organization too", async () => {
    await page.goto("/protect");
    await hydrated(page);
    await page.getByRole("button", { name: "+ New" }).click();
    const wizard = page.getByRole("dialog", { name: "Add appliance" });
    await wizard.getByRole("combobox", { name: "Organization" }).fill("Client 2000");
    await wizard.getByRole("option", { name: "Client 2000" }).click();
    await wizard.getByRole("button", { name: "Create registration ID" }).click();
    await expect(page.getByTestId("appliance-command")).toContainText("--registration-id");
  });
});
