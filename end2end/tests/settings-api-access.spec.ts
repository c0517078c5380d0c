// The public API from the user's side: a Superuser makes a credential in Settings → API Access,
// a program exchanges it for a token and reads the portal's data; disabling it stops the program.
import { expect, test } from "@playwright/test";
import { createInstance, expectAccessible, hydrated, signIn } from "./portal";

const OWNER = { homerealm: "tyrell", email: "owner@tyrell.example", password: "Tyrell-Owner-1" };

test("a credential made in Settings → API Access reads the portal through /api/v1 until it is disabled", async ({
  page,
  playwright,
  baseURL,
}) => {
  const secret = createInstance(OWNER, "Tyrell");
  await signIn(page, OWNER, secret);

  await test.step("an organization to read back", async () => {
    await page.goto("/organizations");
    await hydrated(page);
    await page.getByRole("button", { name: "+ New" }).click();
    const dialog = page.getByRole("dialog", { name: "New organization" });
    await dialog.getByLabel("Name").fill("Raccoon Labs");
    await dialog.getByRole("button", { name: "Save" }).click();
    await expect(page.getByRole("cell", { name: "Raccoon Labs" })).toBeVisible();
  });

  let clientId = "";
  let clientSecret = "";
  await test.step("+ New shows the secret once, with copy buttons and the warning", async () => {
    await page.goto("/settings");
    await hydrated(page);
    await page.getByRole("link", { name: "API Access" }).click();
    await expect(page.getByRole("heading", { name: "API Access" })).toBeVisible();
    await expect(page.getByText("No API credentials yet.")).toBeVisible();
    await page.getByRole("button", { name: "+ New" }).click();
    const dialog = page.getByRole("dialog", { name: "New API credential" });
    await dialog.getByLabel("Name").fill("Billing export");
    await dialog.getByRole("button", { name: "Save" }).click();
    await expect(dialog.getByRole("heading", { name: "API credential created" })).toBeVisible();
    await expect(dialog.getByRole("alert")).toContainText("It will never be shown again");
    await expect(dialog.getByRole("button", { name: "Copy Client Secret" })).toBeVisible();
    clientId = (await dialog.getByTestId("Client ID").textContent())!.trim();
    clientSecret = (await dialog.getByTestId("Client Secret").textContent())!.trim();
    expect(clientId).toMatch(/^[0-9a-f]{32}$/);
    expect(clientSecret.length).toBeGreaterThanOrEqual(64);
    await expectAccessible(page, "the new API credential dialog");
    await dialog.getByRole("button", { name: "Close" }).click();
    const row = page.getByRole("row", { name: /Billing export/ });
    await expect(row).toContainText(clientId);
    await expect(row).toContainText(OWNER.email);
    await expect(row).toContainText("Never");
    await expect(row).toContainText("Enabled");
    await expect(page.getByText(clientSecret)).toHaveCount(0);
    await expectAccessible(page, "Settings → API Access");
  });

  // A program: no cookies, no browser page.
  const program = await playwright.request.newContext({ baseURL });
  let token = "";
  await test.step("the program gets a token and lists the organizations", async () => {
    const issued = await program.post("/connect/token", {
      headers: { Authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}` },
      form: { grant_type: "client_credentials" },
    });
    expect(issued.status()).toBe(200);
    const body = await issued.json();
    expect(body.token_type).toBe("Bearer");
    token = body.access_token;
    const organizations = await program.get("/api/v1/organizations", { headers: { Authorization: `Bearer ${token}` } });
    expect(organizations.status()).toBe(200);
    const list = await organizations.json();
    expect(list.items.map((o: { name: string }) => o.name)).toEqual(["Raccoon Labs"]);
  });

  await test.step("the list shows when it was last used; the reference page renders offline", async () => {
    await page.reload();
    await hydrated(page);
    await expect(page.getByRole("row", { name: /Billing export/ })).not.toContainText("Never");
    await page.goto("/api/v1/docs/");
    await expect(page.getByText("Backplane public API").first()).toBeVisible();
    await expect(page.getByText("/api/v1/organizations", { exact: true }).first()).toBeVisible();
  });

  await test.step("disabled in Settings, the credential and its token stop working", async () => {
    await page.goto("/settings/api-access");
    await hydrated(page);
    const row = page.getByRole("row", { name: /Billing export/ });
    await row.getByRole("button", { name: "Disable" }).click();
    await expect(row).toContainText("Disabled");
    const refused = await program.get("/api/v1/organizations", { headers: { Authorization: `Bearer ${token}` } });
    expect(refused.status()).toBe(401);
    const again = await program.post("/connect/token", {
      form: { grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret },
    });
    expect(again.status()).toBe(401);
    expect((await again.json()).error).toBe("invalid_client");
  });
  await program.dispose();
});
