// A real Perseus service as the system under test: its own server.ts run from source, pinned
// to one core, ready when /readyz answers 200; its resident memory read from /proc.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export type Service = {
  process: ChildProcess;
  port: number;
  baseUrl: string;
  /** Resident set size of the service process now, in bytes (VmRSS). */
  rss(): number;
  output(): string;
  stop(): Promise<void>;
};

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/**
 * Starts `apps/<app>/dist/server.js` as `pnpm start` does (after `pnpm build`), or with
 * `fromSource` its `src/server.ts` through tsx as the tests do. Node itself is the pinned
 * child, so the pid we sample and signal is the service.
 */
export async function startService(
  app: string,
  core: string,
  env: Record<string, string>,
  options: { readyTimeoutMs?: number; nodeArgs?: string[]; fromSource?: boolean } = {},
): Promise<Service> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const port = await freePort();
  const appDir = join(repoRoot, "apps", app);
  const child = spawn(
    "taskset",
    [
      "-c",
      core,
      process.execPath,
      ...(options.nodeArgs ?? []),
      ...(options.fromSource
        ? ["--conditions=@perseus/source", "--import", "tsx", "src/server.ts"]
        : ["dist/server.js"]),
    ],
    {
      cwd: appDir,
      env: { ...process.env, NODE_ENV: "production", LOG_LEVEL: "warn", ...env, PORT: String(port) },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let log = "";
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${app} exited with ${child.exitCode}:\n${log}`);
    const ok = await fetch(`${baseUrl}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${app} not ready within ${readyTimeoutMs} ms:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    process: child,
    port,
    baseUrl,
    rss: () => rssOf(child.pid!),
    output: () => log,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await once(child, "exit");
      clearTimeout(timer);
    },
  };
}
