// Settings → Security from the Superuser's side: the page names the caller's own address, a
// list without it cannot be turned on, the rule holding it cannot be deleted while restrictions
// are on, and the portal keeps working from a listed address; an https console listed under
// Embedding frames the instance's login page. (Refusals from other addresses, and the frame
// headers of other instances, are proven in server/tests/http.rs.)
import { expect, test } from "@playwright/test";
import { createInstance, expectAccessible, hydrated, signIn } from "./portal";

const OWNER = { homerealm: "weyland", email: "owner@weyland.example", password: "Weyland-Owner-1" };

test("IP restrictions: the own address is shown and never locked out; on, off and rules", async ({ page }) => {
  const secret = createInstance(OWNER, "Weyland");
  await signIn(page, OWNER, secret);
  await page.goto("/settings");
  await hydrated(page);
  await page.getByRole("link", { name: "Security" }).click();
  await expect(page.getByRole("heading", { name: "IP restrictions" })).toBeVisible();
  await hydrated(page);
  const address = page.getByTestId("your-address");
  const status = page.getByTestId("ip-restrictions-status");
  const form = page.getByRole("form", { name: "Add allowed addresses" });
  const table = page.getByRole("table", { name: "Allowed addresses" });
  await expect(address).toHaveText("Your IP address: 127.0.0.1 — it is not on the list yet: add it before turning restrictions on.");
  await expect(status).toHaveText("IP restrictions are off.");

  await test.step("a bad entry is named; a list without the own address cannot be turned on", async () => {
    await form.getByLabel("Description (optional)").fill("Branch");
    await form.getByLabel("Addresses and ranges").fill("203.0.113.0/24, branch-vpn");
    await form.getByRole("button", { name: "Add" }).click();
    await expect(form.getByRole("alert")).toContainText('"branch-vpn" is not an address');
    await form.getByLabel("Addresses and ranges").fill("203.0.113.0/24, 2001:db8::/32");
    await form.getByRole("button", { name: "Add" }).click();
    await expect(table.getByRole("row", { name: /Branch 203\.0\.113\.0\/24, 2001:db8::\/32/ })).toBeVisible();
    await page.getByRole("button", { name: "Turn restrictions on" }).click();
    await expect(page.getByRole("alert")).toContainText("Your own address (127.0.0.1) would not be allowed");
    await expect(status).toHaveText("IP restrictions are off.");
  });

  await test.step("with the own address listed, restrictions go on and the portal keeps working", async () => {
    await form.getByLabel("Description (optional)").fill("Office");
    await form.getByLabel("Addresses and ranges").fill("127.0.0.1-127.0.0.9");
    await form.getByRole("button", { name: "Add" }).click();
    await expect(address).toHaveText("Your IP address: 127.0.0.1 — it is on the list.");
    await page.getByRole("button", { name: "Turn restrictions on" }).click();
    await expect(status).toHaveText("IP restrictions are on.");
    await page.reload();
    await hydrated(page);
    await expect(status).toHaveText("IP restrictions are on.");
    await expectAccessible(page, "Settings → Security");
  });

  await test.step("the rule holding the own address cannot be deleted while restrictions are on", async () => {
    await table.getByRole("button", { name: "Delete Office" }).click();
    await expect(page.getByRole("alert")).toContainText("Your own address (127.0.0.1) would not be allowed");
    await expect(table.getByRole("row")).toHaveCount(3);
    await page.getByRole("button", { name: "Turn restrictions off" }).click();
    await expect(status).toHaveText("IP restrictions are off.");
    await table.getByRole("button", { name: "Delete Office" }).click();
    await expect(table.getByRole("row")).toHaveCount(2);
  });

  await test.step("Embedding: an http console is refused; an https one frames this instance's pages", async () => {
    const embedding = page.getByRole("form", { name: "Embedding" });
    const origins = embedding.getByLabel("Origins allowed to embed this instance");
    await origins.fill("http://rmm.example.com");
    await embedding.getByRole("button", { name: "Save" }).click();
    await expect(embedding.getByRole("alert")).toContainText("must be served over https");
    await origins.fill("https://RMM.example.com/");
    await embedding.getByRole("button", { name: "Save" }).click();
    await expect(embedding.getByText("Embedding saved.")).toBeVisible();
    const response = await page.request.get("/login?homerealm=weyland");
    expect(response.headers()["content-security-policy"]).toContain("https://rmm.example.com");
    await page.reload();
    await hydrated(page);
    await expect(page.getByLabel("Origins allowed to embed this instance")).toHaveValue("https://rmm.example.com");
  });
});
