import { schema, withTenant } from "@perseus/db";
import { createTenant, stopAllProcesses, type TenantFixture } from "@perseus/testing";
import { count, eq, sql } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInfra, createRobot, type Infra, type RobotFixture, readEvents, waitFor } from "./helper.js";
import { serveJwks, startDispatchProcess } from "./process-helper.js";
import { SimRobot } from "./sim-robot.js";

// T10: SIGKILL the dispatch process 5 times while 300 tasks run; every task ends, every effect once.
const TASKS = 300;
const KILLS = 5;

let infra: Infra;
let jwks: Awaited<ReturnType<typeof serveJwks>>;
let tenant: TenantFixture;
let robots: SimRobot[] = [];

beforeAll(async () => {
  infra = await createInfra();
  jwks = await serveJwks(infra.tokens.jwks);
  tenant = await createTenant(infra.database.db);
});

afterAll(async () => {
  await Promise.all(robots.map((robot) => robot.stop()));
  await stopAllProcesses();
  await jwks?.close();
  await infra?.redis.cleanup();
  await infra?.database.drop();
});

async function statusCounts() {
  const rows = await withTenant(infra.database.db, { tenantId: tenant.tenantId }, (tx) =>
    tx.select({ status: schema.tasks.status, n: count() }).from(schema.tasks).groupBy(schema.tasks.status),
  );
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.n)])) as Record<string, number>;
}

/**
 * The 300 tasks, inserted in one transaction (the API path is covered elsewhere; here it
 * would only add minutes on a busy machine). Nobody is woken: the reconciler and the
 * robots' claims have to find them in Postgres.
 */
async function createTasks(fixtures: RobotFixture[]) {
  const rows = Array.from({ length: TASKS }, (_, index) => ({
    tenantId: tenant.tenantId,
    id: uuidv7(),
    robotId: (fixtures[index % fixtures.length] as RobotFixture).robotId,
    requestedBy: tenant.owner.id,
    prompt: `job ${index}`,
    priority: index % 3,
    maxAttempts: 10,
  }));
  await withTenant(infra.database.db, { tenantId: tenant.tenantId }, (tx) =>
    tx.insert(schema.tasks).values(rows),
  );
  return rows.map((row) => row.id);
}

describe("T10: SIGKILL of the dispatch process under load", () => {
  it(`finishes ${TASKS} tasks exactly once across ${KILLS} kills`, { timeout: 300_000 }, async () => {
    const { db } = infra.database;
    const dispatch = await startDispatchProcess(infra, jwks.url, {
      // Leases outlive a restart (tsx start-up on a busy 2-core box), so robots resume them.
      LEASE_TTL_MS: "30000",
      HEARTBEAT_INTERVAL_MS: "500",
      OFFER_TTL_MS: "3000",
      SWEEP_INTERVAL_MS: "500",
      RECONCILE_INTERVAL_MS: "1000",
      LOCAL_POLL_MS: "300",
      RETRY_BASE_MS: "100",
      TASK_MAX_ATTEMPTS: "10",
    });
    const fixtures = [
      await createRobot(db, infra.tokens, tenant, { maxConcurrency: 10 }),
      await createRobot(db, infra.tokens, tenant, { maxConcurrency: 10 }),
    ];
    const started = Date.now();
    const mark = (what: string) =>
      console.log(`[T10] ${((Date.now() - started) / 1000).toFixed(1)}s ${what}`);
    const taskIds = await createTasks(fixtures);
    mark("tasks created");
    expect(new Set(taskIds).size).toBe(TASKS);

    robots = fixtures.flatMap((fixture, f) =>
      [0, 1].map(
        (c) =>
          new SimRobot({
            url: dispatch.wsUrl,
            token: () => fixture.token(),
            concurrency: 5,
            workMs: () => 100 + Math.random() * 300,
            name: `robot-${f}-${c}`,
          }),
      ),
    );
    for (const robot of robots) robot.start();

    for (let kill = 1; kill <= KILLS; kill++) {
      const target = Math.floor((TASKS * kill) / (KILLS + 2));
      await waitFor(
        `${target} tasks done before kill ${kill}`,
        async () => ((await statusCounts()).succeeded ?? 0) >= target,
        120_000,
        100,
      );
      mark(`kill ${kill}`);
      const status = await dispatch.process.kill("SIGKILL");
      expect(status.signal).toBe("SIGKILL");
      await dispatch.process.restart();
      mark(`restarted ${kill}`);
    }

    const final = await waitFor(
      "every task terminal",
      async () => {
        const counts = await statusCounts();
        const terminal = ["succeeded", "failed", "cancelled", "dead"].reduce(
          (sum, s) => sum + (counts[s] ?? 0),
          0,
        );
        return terminal === TASKS ? counts : undefined;
      },
      150_000,
      250,
    );
    mark("all terminal");
    expect(final).toEqual({ succeeded: TASKS });

    // Robot side: every task executed exactly once, across all robots and reconnects.
    const executions = new Map<string, number>();
    for (const robot of robots) {
      for (const [taskId, times] of robot.executions)
        executions.set(taskId, (executions.get(taskId) ?? 0) + times);
    }
    expect(executions.size).toBe(TASKS);
    expect([...executions.values()].filter((times) => times !== 1)).toEqual([]);
    expect(robots.every((robot) => robot.connectionCount > KILLS)).toBe(true);

    // Platform side: one stored effect per task, and exactly one succeeded transition each.
    const effects = await withTenant(db, { tenantId: tenant.tenantId }, (tx) =>
      tx
        .select({ taskId: schema.taskEffects.taskId, n: count() })
        .from(schema.taskEffects)
        .groupBy(schema.taskEffects.taskId),
    );
    expect(effects).toHaveLength(TASKS);
    expect(effects.filter((row) => Number(row.n) !== 1)).toEqual([]);
    const attempts = await withTenant(db, { tenantId: tenant.tenantId }, (tx) =>
      tx.select({ n: count() }).from(schema.taskAttempts).where(eq(schema.taskAttempts.outcome, "succeeded")),
    );
    expect(Number(attempts[0]?.n)).toBe(TASKS);
    const succeeded = await waitFor(
      "every success on the task stream",
      async () => {
        const events = (await readEvents(infra.redis.client, infra.redis.prefix, "task")).filter(
          (event) => event.type === "task.succeeded",
        );
        const byTask = new Map<string, Set<string>>();
        for (const event of events) {
          const taskId = (event.payload as { taskId: string }).taskId;
          byTask.set(taskId, (byTask.get(taskId) ?? new Set()).add(event.id));
        }
        return byTask.size === TASKS ? byTask : undefined;
      },
      30_000,
      250,
    );
    // The relay may publish an event twice (at-least-once), but never two successes for a task.
    expect([...succeeded.values()].filter((ids) => ids.size !== 1)).toEqual([]);
    const leftover = await withTenant(db, { tenantId: tenant.tenantId }, (tx) =>
      tx.execute(sql`select count(*)::int as n from tasks where task_token_hash is not null`),
    );
    expect(leftover.rows[0]).toEqual({ n: 0 });
  });
});
