import { createDb, createPool, schema, withTenant } from "@perseus/db";
import { createTenant, type TenantFixture } from "@perseus/testing";
import { count } from "drizzle-orm";
import pg from "pg";
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
import { insertQueuedTasks, startSimRobots } from "./process-helper.js";
import type { SimRobot } from "./sim-robot.js";

// T13 (dispatch part): Postgres backends of the service killed again and again mid-traffic.
const TASKS = 100;
const APPLICATION = "perseus-dispatch-t13";

let infra: Infra;
let env: DispatchEnv;
let tenant: TenantFixture;
let pool: pg.Pool;
let robots: SimRobot[] = [];

beforeAll(async () => {
  infra = await createInfra();
  // The service gets a pool of its own, named, so the test can kill exactly its backends.
  pool = createPool({
    url: infra.database.url,
    max: 10,
    applicationName: APPLICATION,
    connectionTimeoutMs: 3_000,
  });
  env = await startDispatch(
    infra,
    {
      LOG_LEVEL: "fatal",
      LEASE_TTL_MS: "15000",
      HEARTBEAT_INTERVAL_MS: "500",
      OFFER_TTL_MS: "3000",
      TASK_MAX_ATTEMPTS: "10",
    },
    { db: createDb(pool) },
  );
  tenant = await createTenant(infra.database.db);
});

afterAll(async () => {
  await Promise.all(robots.map((robot) => robot.stop()));
  await env?.close();
  await pool?.end();
  await infra?.redis.cleanup();
  await infra?.database.drop();
});

async function killBackends(): Promise<number> {
  const admin = new pg.Client({ connectionString: infra.database.adminUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
      [infra.database.name, APPLICATION],
    );
    return rows.length;
  } finally {
    await admin.end();
  }
}

describe("T13: Postgres backends killed mid-traffic", () => {
  it("finishes every task exactly once and answers 503, never hangs", { timeout: 180_000 }, async () => {
    const { db } = infra.database;
    const fixture = await createRobot(db, infra.tokens, tenant, { maxConcurrency: 10 });
    await insertQueuedTasks(db, tenant.tenantId, fixture.robotId, TASKS, { maxAttempts: 10 });
    robots = startSimRobots({
      url: env.wsUrl,
      token: () => fixture.token(),
      count: 2,
      concurrency: 5,
      name: "pg-fault",
    });

    const token = await ownerToken(infra.tokens, tenant);
    const statuses: number[] = [];
    let slowest = 0;
    let isProbing = true;
    const probe = (async () => {
      while (isProbing) {
        const started = Date.now();
        const response = await fetch(`${env.baseUrl}/api/dispatch/tasks?limit=1`, {
          headers: { authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(15_000),
        });
        await response.arrayBuffer();
        statuses.push(response.status);
        slowest = Math.max(slowest, Date.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    let killed = 0;
    for (let round = 0; round < 12; round++) {
      killed += await killBackends();
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    isProbing = false;
    await probe;
    expect(killed).toBeGreaterThan(10);

    await waitFor(
      "every task done",
      async () => {
        const rows = await withTenant(db, { tenantId: tenant.tenantId }, (tx) =>
          tx
            .select({ status: schema.tasks.status, n: count() })
            .from(schema.tasks)
            .groupBy(schema.tasks.status),
        );
        return rows.length === 1 && rows[0]?.status === "succeeded" && Number(rows[0].n) === TASKS;
      },
      120_000,
      250,
    );
    const executions = robots.flatMap((robot) => [...robot.executions.values()]);
    expect(executions).toHaveLength(TASKS);
    expect(executions.filter((times) => times !== 1)).toEqual([]);
    const effects = await withTenant(db, { tenantId: tenant.tenantId }, (tx) =>
      tx.select({ n: count() }).from(schema.taskEffects),
    );
    expect(Number(effects[0]?.n)).toBe(TASKS);
    // Outages surface as 503 (retry later), never as a hang or another 5xx.
    expect(statuses.filter((status) => status !== 200 && status !== 503)).toEqual([]);
    expect(slowest).toBeLessThan(10_000);
    const health = await fetch(`${env.baseUrl}/readyz`);
    expect(health.status).toBe(200);
  });
});
