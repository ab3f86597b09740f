import { randomUUID } from "node:crypto";
import { createServer as createHttpServer, type Server } from "node:http";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { type Task, TaskDetail } from "@perseus/contracts";
import { schema, withTenant } from "@perseus/db";
import {
  createTenant,
  createTestDatabase,
  createTestRedis,
  createTestTokens,
  type ManagedProcess,
  startProcess,
  type TenantFixture,
} from "@perseus/testing";
import { APP_DIR, CLI, NODE_ARGS } from "./helper.js";

const DISPATCH_SERVER = join(APP_DIR, "..", "dispatch", "src", "server.ts");

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The real dispatch service as a child process (`tsx apps/dispatch/src/server.ts`) on a
 * fresh database and Redis namespace, trusting the test signing key through a JWKS
 * endpoint (the part of the auth service dispatch needs), with short lease timings.
 */
export async function startPlatform(options: { leaseTtlMs?: number } = {}) {
  const [database, redis, tokens] = await Promise.all([
    createTestDatabase({ poolSize: 4 }),
    createTestRedis(),
    createTestTokens(),
  ]);
  const jwks: Server = createHttpServer((_request, response) => {
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify(tokens.jwks));
  });
  await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dispatch = await startProcess({
    name: "dispatch",
    command: process.execPath,
    args: [...NODE_ARGS, DISPATCH_SERVER],
    cwd: APP_DIR,
    env: {
      NODE_ENV: "test",
      LOG_LEVEL: "warn",
      HOST: "127.0.0.1",
      PORT: String(port),
      DATABASE_URL: database.url,
      DATABASE_POOL_SIZE: "4",
      REDIS_URL: redis.url,
      REDIS_PREFIX: redis.prefix,
      AUTH_ISSUER: tokens.issuer,
      AUTH_JWKS_URL: jwksUrl,
      LEASE_TTL_MS: String(options.leaseTtlMs ?? 60_000),
      HEARTBEAT_INTERVAL_MS: "1000",
      OFFER_TTL_MS: "3000",
      HELLO_TIMEOUT_MS: "3000",
      SWEEP_INTERVAL_MS: "500",
      RECONCILE_INTERVAL_MS: "1000",
      LOCAL_POLL_MS: "300",
      RETRY_BASE_MS: "100",
      RETRY_MAX_MS: "1000",
      REJECT_DELAY_MS: "200",
      POLL_SESSION_IDLE_MS: "5000",
    },
    ready: { url: `${url}/readyz` },
    readyTimeoutMs: 150_000,
  });
  const tenant = await createTenant(database.db);
  const userToken = await tokens.user({ userId: tenant.owner.id, tenantId: tenant.tenantId, role: "owner" });

  const api = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${url}/api/dispatch${path}`, {
      method,
      headers: {
        authorization: `Bearer ${userToken}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
    return JSON.parse(text) as unknown;
  };

  return {
    url,
    database,
    tokens,
    tenant,
    dispatch,
    /** Inserts a robot as the auth service would (tenant-wide scope) and signs an access token for it. */
    async createRobot(maxConcurrency = 2) {
      const robotId = randomUUID();
      const handle = `nano${randomUUID().slice(0, 6)}`;
      await withTenant(database.db, { tenantId: tenant.tenantId }, async (tx) => {
        await tx.insert(schema.robots).values({
          tenantId: tenant.tenantId,
          id: robotId,
          handle,
          name: `Nanobot ${handle}`,
          maxConcurrency,
          config: { executor: "shell" },
        });
        await tx
          .insert(schema.robotScopes)
          .values({ tenantId: tenant.tenantId, robotId, scopeType: "tenant", scopeId: tenant.tenantId });
      });
      const token = await tokens.robot({ robotId, tenantId: tenant.tenantId, handle }, 3_600);
      return { robotId, handle, token };
    },
    createTask: (robotId: string, prompt: string) =>
      api("POST", "/tasks", { robotId, prompt, chatgroupId: tenant.chatgroupId }) as Promise<Task>,
    getTask: async (taskId: string) => TaskDetail.parse(await api("GET", `/tasks/${taskId}`)),
    cancelTask: (taskId: string, version: number) =>
      api("POST", `/tasks/${taskId}/cancel`, { reason: "test" }, { "if-match": `"${version}"` }),
    /** Result rows recorded for a task (one per distinct idempotency key). */
    effects: (taskId: string) =>
      withTenant(database.db, { tenantId: tenant.tenantId }, async (tx) =>
        (await tx.select().from(schema.taskEffects)).filter((row) => row.taskId === taskId),
      ),
    async close() {
      await dispatch.stop(10_000);
      await new Promise((resolve) => jwks.close(resolve));
      await redis.cleanup();
      await database.drop();
    },
  };
}
export type Platform = Awaited<ReturnType<typeof startPlatform>>;

/** The nanobot CLI as a real process: `perseus-nanobot connect`. */
export function startNanobot(
  platform: { url: string },
  robot: { token: string },
  options: { dataDir: string; args?: string[]; env?: Record<string, string>; ready?: RegExp },
): Promise<ManagedProcess> {
  return startProcess({
    name: "nanobot",
    command: process.execPath,
    args: [
      ...NODE_ARGS,
      CLI,
      "connect",
      "--url",
      platform.url,
      "--data-dir",
      options.dataDir,
      "--log-level",
      "debug",
      ...(options.args ?? []),
    ],
    cwd: APP_DIR,
    env: {
      PERSEUS_ROBOT_TOKEN: robot.token,
      PERSEUS_ROBOT_CREDENTIAL: undefined,
      PERSEUS_URL: undefined,
      XDG_CONFIG_HOME: options.dataDir,
      ...options.env,
    },
    ready: { line: options.ready ?? /INFO\s+connected/ },
    readyTimeoutMs: 30_000,
  });
}

export type { TenantFixture };
