// Starts and stops the real portal binary for the suite; hands the first-run URL to the tests.
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const STATE_FILE = path.join(os.tmpdir(), `backplane-e2e-${process.env.BP_E2E_PORT ?? 3197}.json`);

export interface ServerState {
  pid: number;
  dataDir: string;
  setupUrl: string;
}

export async function startServer(port: number): Promise<ServerState> {
  const { child, dataDir, setupUrl } = await launchServer(port, {});
  child.unref();
  const state = { pid: child.pid!, dataDir, setupUrl };
  fs.writeFileSync(STATE_FILE, JSON.stringify(state));
  return state;
}

/** A portal process of its own on `port` with extra settings `extraEnv`, on a fresh data directory. */
export async function launchServer(
  port: number,
  extraEnv: Record<string, string>,
): Promise<{ child: ChildProcess; dataDir: string; setupUrl: string }> {
  const repo = path.resolve(__dirname, "..");
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "backplane-e2e-"));
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DATABASE_URL; // the suite runs on the default: SQLite in its own data directory
  const child = spawn(path.join(repo, "target/debug/backplane"), [], {
    cwd: repo,
    env: {
      ...env,
      BACKPLANE_LISTEN: `127.0.0.1:${port}`,
      BACKPLANE_DATA_DIR: dataDir,
      LEPTOS_SITE_ROOT: path.join(repo, "target/site"),
      RUST_LOG: process.env.RUST_LOG ?? "warn",
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "inherit"],
    detached: true,
  });
  const setupUrl = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server printed no setup URL:\n${out}`)), 60_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = out.match(/First-run setup: open (\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}:\n${out}`)));
  });
  child.stdout!.resume();
  return { child, dataDir, setupUrl };
}

export function serverState(): ServerState {
  return JSON.parse(fs.readFileSync(STATE_FILE, "utf8"));
}

export function stopServer() {
  if (!fs.existsSync(STATE_FILE)) return;
  const state = serverState();
  try {
    process.kill(-state.pid, "SIGTERM");
  } catch {
    // already gone
  }
  fs.rmSync(state.dataDir, { recursive: true, force: true });
  fs.rmSync(STATE_FILE, { force: true });
}
