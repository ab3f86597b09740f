import { RobotCloseCode } from "@perseus/contracts";
import { schema, withTenant } from "@perseus/db";
import { createTenant, stopAllProcesses, type TenantFixture } from "@perseus/testing";
import { Queue } from "bullmq";
import { count, sql } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dispatchJobs } from "../src/modules/scheduler/jobs.js";
import { createInfra, createRobot, type Infra, waitFor } from "./helper.js";
import { serveJwks, startDispatchProcess } from "./process-helper.js";
import { SimRobot } from "./sim-robot.js";

// T14: a graceful stop under load leaves no job stalled, tells robots to come back, keeps leases.
const TASKS = 20;

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

async function runningLeases() {
  const rows = await withTenant(infra.database.db, { tenantId: tenant.tenantId }, (tx) =>
    tx
      .select({ n: count() })
      .from(schema.tasks)
      .where(sql`${schema.tasks.status} = 'running' and ${schema.tasks.leaseExpiresAt} > now()`),
  );
  return Number(rows[0]?.n ?? 0);
}

describe("T14: SIGTERM under load", () => {
  it("closes robots with 1012, leaves no BullMQ job active or stalled, and the leases resume", {
    timeout: 180_000,
  }, async () => {
    const { db } = infra.database;
    const dispatch = await startDispatchProcess(infra, jwks.url, {
      LEASE_TTL_MS: "30000",
      HEARTBEAT_INTERVAL_MS: "500",
      OFFER_TTL_MS: "5000",
      SWEEP_INTERVAL_MS: "100",
      RECONCILE_INTERVAL_MS: "200",
      LOCAL_POLL_MS: "300",
    });
    const fixture = await createRobot(db, infra.tokens, tenant, { maxConcurrency: TASKS });
    await withTenant(db, { tenantId: tenant.tenantId }, (tx) =>
      tx.insert(schema.tasks).values(
        Array.from({ length: TASKS }, (_, i) => ({
          tenantId: tenant.tenantId,
          id: uuidv7(),
          robotId: fixture.robotId,
          prompt: `slow ${i}`,
        })),
      ),
    );
    robots = [0, 1].map(
      (i) =>
        new SimRobot({
          url: dispatch.wsUrl,
          token: () => fixture.token(),
          concurrency: TASKS / 2,
          // Long enough that every task is still running when the stop comes.
          workMs: () => 8_000,
          name: `slow-${i}`,
        }),
    );
    for (const robot of robots) robot.start();
    await waitFor("every task running", async () => (await runningLeases()) === TASKS, 60_000, 100);

    const status = await dispatch.process.kill("SIGTERM");
    expect(status).toEqual({ code: 0, signal: null });
    for (const robot of robots) expect(robot.closeCodes).toContain(RobotCloseCode.serviceRestart);

    // Nothing of the stopped process is left active or stalled in BullMQ.
    for (const name of Object.keys(dispatchJobs)) {
      const queue = new Queue(`{${name}}`, {
        connection: { url: infra.redis.url },
        prefix: `${infra.redis.prefix}:jobs`,
      });
      const counts = await queue.getJobCounts("active", "failed");
      expect(counts, name).toEqual({ active: 0, failed: 0 });
      const stalled = await infra.redis.client.scard(`${infra.redis.prefix}:jobs:{${name}}:stalled`);
      expect(stalled, name).toBe(0);
      await queue.close();
    }
    // The leases outlive the process: robots resume them after the restart.
    expect(await runningLeases()).toBe(TASKS);

    await dispatch.process.restart();
    const resumed = await waitFor(
      "the robots to resume their leases",
      () => {
        const total = robots.reduce((sum, robot) => sum + (robot.welcomes.at(-1)?.resumed.length ?? 0), 0);
        return robots.every((robot) => robot.welcomes.length >= 2) && total > 0 ? total : undefined;
      },
      60_000,
      100,
    );
    expect(resumed).toBe(TASKS);
    await waitFor(
      "every task done",
      async () => {
        const rows = await withTenant(db, { tenantId: tenant.tenantId }, (tx) =>
          tx.select({ n: count() }).from(schema.tasks).where(sql`${schema.tasks.status} = 'succeeded'`),
        );
        return Number(rows[0]?.n) === TASKS;
      },
      60_000,
      200,
    );
    const executions = robots.flatMap((robot) => [...robot.executions.values()]);
    expect(executions).toHaveLength(TASKS);
    expect(executions.every((times) => times === 1)).toBe(true);
  });
});
