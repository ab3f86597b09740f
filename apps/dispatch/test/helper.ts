import { randomUUID } from "node:crypto";
import { type EventEnvelope, EventEnvelope as EventEnvelopeSchema } from "@perseus/contracts";
import { type Db, schema, withTenant } from "@perseus/db";
import {
  createTestDatabase,
  createTestRedis,
  createTestTokens,
  type TenantFixture,
  type TestDatabase,
  type TestRedis,
  type TestTokens,
} from "@perseus/testing";
import { eq } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import { v7 as uuidv7 } from "uuid";
import { buildApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";

/** Short timings so lease expiry, sweeps and retries happen within a test's patience. */
export const FAST_TIMINGS: Record<string, string> = {
  LOG_LEVEL: "warn",
  LEASE_TTL_MS: "2000",
  HEARTBEAT_INTERVAL_MS: "200",
  OFFER_TTL_MS: "1000",
  HELLO_TIMEOUT_MS: "1000",
  SWEEP_INTERVAL_MS: "200",
  RECONCILE_INTERVAL_MS: "500",
  LOCAL_POLL_MS: "200",
  RETRY_BASE_MS: "50",
  RETRY_MAX_MS: "1000",
  REJECT_DELAY_MS: "100",
  CONSUMER_CLAIM_IDLE_MS: "1000",
  POLL_SESSION_IDLE_MS: "2000",
};

export type DispatchEnv = {
  app: FastifyInstance;
  database: TestDatabase;
  redis: TestRedis;
  tokens: TestTokens;
  prefix: string;
  baseUrl: string;
  wsUrl: string;
  close(): Promise<void>;
};

/** Shared infrastructure of one test file: a database, a Redis namespace and signing keys. */
export async function createInfra() {
  const [database, redis, tokens] = await Promise.all([
    createTestDatabase({ poolSize: 10 }),
    createTestRedis(),
    createTestTokens(),
  ]);
  return { database, redis, tokens };
}
export type Infra = Awaited<ReturnType<typeof createInfra>>;

/** The environment a dispatch process gets in tests (also used for child processes). */
export function testEnv(infra: Infra, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    ...FAST_TIMINGS,
    DATABASE_URL: infra.database.url,
    REDIS_URL: infra.redis.url,
    REDIS_PREFIX: infra.redis.prefix,
    AUTH_ISSUER: infra.tokens.issuer,
    HOST: "127.0.0.1",
    ...overrides,
  };
}

/** Builds the dispatch app on the test infrastructure and listens on a free port. */
export async function startDispatch(
  infra: Infra,
  overrides: Record<string, string> = {},
  connections: { db?: Db; redis?: Redis } = {},
): Promise<DispatchEnv> {
  const config = loadConfig(testEnv(infra, { PORT: "0", ...overrides }));
  const app = await buildApp({
    config,
    instanceId: `dispatch-test-${randomUUID().slice(0, 8)}`,
    version: "test",
    db: connections.db ?? infra.database.db,
    redis: connections.redis ?? infra.redis.client,
    keys: infra.tokens.keys,
    revocations: infra.tokens.revocations,
  });
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  return {
    app,
    ...infra,
    prefix: infra.redis.prefix,
    baseUrl: address,
    wsUrl: `${address.replace(/^http/, "ws")}/api/dispatch/robot/v1/ws`,
    close: () => app.close(),
  };
}

export type RobotFixture = {
  robotId: string;
  handle: string;
  tenantId: string;
  token: (credentialId?: string) => Promise<string>;
};

/** Inserts a robot (as the auth service would) with scopes, and a token factory for it. */
export async function createRobot(
  db: Db,
  tokens: TestTokens,
  tenant: TenantFixture,
  options: {
    handle?: string;
    maxConcurrency?: number;
    scopes?: { type: "tenant" | "team" | "chatgroup"; id?: string }[];
    config?: Record<string, unknown>;
  } = {},
): Promise<RobotFixture> {
  const robotId = uuidv7();
  const handle = options.handle ?? `bot${randomUUID().slice(0, 6)}`;
  await withTenant(db, { tenantId: tenant.tenantId }, async (tx) => {
    await tx.insert(schema.robots).values({
      tenantId: tenant.tenantId,
      id: robotId,
      handle,
      name: `Robot ${handle}`,
      maxConcurrency: options.maxConcurrency ?? 4,
      config: options.config ?? {},
    });
    for (const scope of options.scopes ?? [{ type: "tenant" }]) {
      await tx.insert(schema.robotScopes).values({
        tenantId: tenant.tenantId,
        robotId,
        scopeType: scope.type,
        scopeId:
          scope.id ??
          (scope.type === "tenant"
            ? tenant.tenantId
            : scope.type === "team"
              ? tenant.teamId
              : tenant.chatgroupId),
      });
    }
  });
  return {
    robotId,
    handle,
    tenantId: tenant.tenantId,
    token: (credentialId) => tokens.robot({ robotId, tenantId: tenant.tenantId, handle, credentialId }),
  };
}

export async function ownerToken(tokens: TestTokens, tenant: TenantFixture) {
  return tokens.user({ userId: tenant.owner.id, tenantId: tenant.tenantId, role: "owner" });
}

/** Polls `check` until it returns something other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false && value !== null) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/** The events published on a topic's stream, oldest first. */
export async function readEvents(redis: Redis, prefix: string, topic: string): Promise<EventEnvelope[]> {
  const entries = await redis.xrange(`${prefix}:events:{${topic}}`, "-", "+");
  return entries.map(([, fields]) =>
    EventEnvelopeSchema.parse(JSON.parse(fields[fields.indexOf("e") + 1] ?? "null")),
  );
}

/** Reads a task row past the API (as the app role, in the tenant). */
export async function taskRow(db: Db, tenantId: string, taskId: string) {
  return withTenant(db, { tenantId }, async (tx) => {
    const [row] = await tx.select().from(schema.tasks).where(eq(schema.tasks.id, taskId));
    return row ?? null;
  });
}
