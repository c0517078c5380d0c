import { PORT } from "./playwright.config";
import { startServer } from "./server";

export default async function globalSetup() {
  await startServer(PORT);
}
