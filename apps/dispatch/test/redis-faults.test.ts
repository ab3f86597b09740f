import { createRedisConnection } from "@perseus/bus";
import { schema, withTenant } from "@perseus/db";
import {
  createTenant,
  type PrivateRedis,
  startRedisServer,
  stopAllProcesses,
  type TenantFixture,
} from "@perseus/testing";
import { Queue } from "bullmq";
import { count, sql } from "drizzle-orm";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createInfra,
  createRobot,
  type DispatchEnv,
  type Infra,
  ownerToken,
  startDispatch,
  waitFor,
} from "./helper.js";
import { insertQueuedTasks, serveJwks, startDispatchProcess, startSimRobots } from "./process-helper.js";
import type { SimRobot } from "./sim-robot.js";

// T12 (dispatch part): Redis killed and restarted empty, then frozen, while tasks run.
const TASKS = 120;

let infra: Infra;
let server: PrivateRedis;
let redis: Redis;
let env: DispatchEnv;
let tenant: TenantFixture;
let robots: SimRobot[] = [];

beforeAll(async () => {
  infra = await createInfra();
  server = await startRedisServer();
  redis = createRedisConnection(server.url, "command", {
    log: { info: () => {}, warn: () => {}, error: () => {} },
  });
  env = await startDispatch(
    infra,
    {
      REDIS_URL: server.url,
      LOG_LEVEL: "fatal",
      LEASE_TTL_MS: "15000",
      HEARTBEAT_INTERVAL_MS: "500",
      OFFER_TTL_MS: "3000",
      SWEEP_INTERVAL_MS: "300",
      RECONCILE_INTERVAL_MS: "500",
      LOCAL_POLL_MS: "300",
      TASK_MAX_ATTEMPTS: "10",
    },
    { redis },
  );
  tenant = await createTenant(infra.database.db);
});

afterAll(async () => {
  await Promise.all(robots.map((robot) => robot.stop()));
  server?.resume();
  await env?.close();
  redis?.disconnect();
  await server?.stop();
  await stopAllProcesses();
  await infra?.redis.cleanup();
  await infra?.database.drop();
});

async function succeeded() {
  const rows = await withTenant(infra.database.db, { tenantId: tenant.tenantId }, (tx) =>
    tx.select({ n: count() }).from(schema.tasks).where(sql`${schema.tasks.status} = 'succeeded'`),
  );
  return Number(rows[0]?.n ?? 0);
}

/** Times a request; it must answer (any status), never hang. */
async function timed(url: string, token: string, init: RequestInit = {}) {
  const started = Date.now();
  const response = await fetch(url, {
    ...init,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    signal: AbortSignal.timeout(15_000),
  });
  await response.arrayBuffer();
  return { status: response.status, ms: Date.now() - started };
}

describe("T12: Redis faults", () => {
  it("finishes every task exactly once through a Redis kill and a freeze; APIs never hang", {
    timeout: 180_000,
  }, async () => {
    const { db } = infra.database;
    const fixture = await createRobot(db, infra.tokens, tenant, { maxConcurrency: 8 });
    await insertQueuedTasks(db, tenant.tenantId, fixture.robotId, TASKS, { maxAttempts: 10 });
    robots = startSimRobots({
      url: env.wsUrl,
      token: () => fixture.token(),
      count: 2,
      concurrency: 4,
      name: "redis-fault",
    });
    const token = await ownerToken(infra.tokens, tenant);

    // 1. SIGKILL without persistence: streams, jobs and schedulers are gone when it returns.
    await waitFor("a third done", async () => (await succeeded()) >= TASKS / 3, 60_000, 100);
    await server.kill();
    const whileDown = await timed(`${env.baseUrl}/api/dispatch/robots/presence`, token);
    expect(whileDown.status).toBe(503);
    const created = await timed(`${env.baseUrl}/api/dispatch/tasks`, token, {
      method: "POST",
      body: JSON.stringify({ robotId: fixture.robotId, prompt: "while redis is down" }),
    });
    // Creating a task needs only Postgres: the wake-up is best effort.
    expect(created.status).toBe(201);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await server.restart();
    // The workers come back: the repeatable jobs are registered again on the empty Redis.
    const sweep = new Queue("{dispatch.sweep}", {
      connection: { url: server.url },
      prefix: `${infra.redis.prefix}:jobs`,
    });
    await waitFor(
      "the sweep scheduler to be back",
      async () => (await sweep.getJobSchedulersCount()) === 1,
      10_000,
      100,
    );
    await sweep.close();

    // 2. SIGSTOP: commands hang at the server; APIs must time out into 503, not wait forever.
    await waitFor("two thirds done", async () => (await succeeded()) >= (2 * TASKS) / 3, 60_000, 100);
    server.pause();
    const frozen = await timed(`${env.baseUrl}/api/dispatch/robots/presence`, token);
    expect(frozen.status).toBe(503);
    expect(frozen.ms).toBeLessThan(6_000);
    const list = await timed(`${env.baseUrl}/api/dispatch/tasks?limit=1`, token);
    expect(list.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    server.resume();

    await waitFor("every task done", async () => (await succeeded()) === TASKS + 1, 90_000, 250);
    const executions = robots.flatMap((robot) => [...robot.executions.values()]);
    expect(executions).toHaveLength(TASKS + 1);
    expect(executions.filter((times) => times !== 1)).toEqual([]);
    const effects = await withTenant(db, { tenantId: tenant.tenantId }, (tx) =>
      tx.select({ n: count() }).from(schema.taskEffects),
    );
    expect(Number(effects[0]?.n)).toBe(TASKS + 1);
  });

  it("refuses to start against a Redis that may evict keys", { timeout: 60_000 }, async () => {
    const evicting = await startRedisServer({ maxmemoryPolicy: "allkeys-lru" });
    const jwks = await serveJwks(infra.tokens.jwks);
    try {
      const started = Date.now();
      await expect(startDispatchProcess(infra, jwks.url, { REDIS_URL: evicting.url })).rejects.toThrow(
        /noeviction/,
      );
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      await jwks.close();
      await evicting.stop();
    }
  });
});
