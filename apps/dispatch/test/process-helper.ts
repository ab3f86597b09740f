import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Db, schema, withTenant } from "@perseus/db";
import { getFreePort, type ManagedProcess, startProcess } from "@perseus/testing";
import { v7 as uuidv7 } from "uuid";
import { type Infra, testEnv } from "./helper.js";
import { SimRobot } from "./sim-robot.js";

const appRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Serves the test signing key's JWKS over HTTP, as the auth service would, for child processes. */
export async function serveJwks(jwks: unknown): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * The dispatch service as a real child process (`node --import tsx src/server.ts`): Node
 * itself is the child, so the pid we SIGKILL is the server, not a wrapper.
 */
export async function startDispatchProcess(
  infra: Infra,
  jwksUrl: string,
  overrides: Record<string, string> = {},
): Promise<{ process: ManagedProcess; port: number; wsUrl: string; baseUrl: string }> {
  const port = await getFreePort();
  const process = await startProcess({
    name: "dispatch",
    command: globalThis.process.execPath,
    args: ["--conditions=@perseus/source", "--import", "tsx", "src/server.ts"],
    cwd: appRoot,
    env: {
      ...testEnv(infra, { PORT: String(port), AUTH_JWKS_URL: jwksUrl, LOG_LEVEL: "warn", ...overrides }),
      NODE_ENV: "test",
    },
    ready: { url: `http://127.0.0.1:${port}/readyz` },
    readyTimeoutMs: 60_000,
  });
  return {
    process,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/api/dispatch/robot/v1/ws`,
  };
}

/** Queues `count` tasks for one robot straight in Postgres (the load of a fault test). */
export async function insertQueuedTasks(
  db: Db,
  tenantId: string,
  robotId: string,
  count: number,
  options: { maxAttempts?: number; prompt?: string } = {},
): Promise<string[]> {
  const rows = Array.from({ length: count }, (_, i) => ({
    tenantId,
    id: uuidv7(),
    robotId,
    prompt: `${options.prompt ?? "job"} ${i}`,
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
  }));
  await withTenant(db, { tenantId }, (tx) => tx.insert(schema.tasks).values(rows));
  return rows.map((row) => row.id);
}

/** `count` simulated robots of one robot identity, started, each taking 100–300 ms per task. */
export function startSimRobots(options: {
  url: string;
  token: () => Promise<string>;
  count: number;
  concurrency: number;
  name: string;
}): SimRobot[] {
  return Array.from({ length: options.count }, (_, i) => {
    const robot = new SimRobot({
      url: options.url,
      token: options.token,
      concurrency: options.concurrency,
      workMs: () => 100 + Math.random() * 200,
      name: `${options.name}-${i}`,
    });
    robot.start();
    return robot;
  });
}
