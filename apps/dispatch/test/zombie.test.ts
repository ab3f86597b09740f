import type { OfferFrame, Task } from "@perseus/contracts";
import { schema, withTenant } from "@perseus/db";
import { createTenant, type TenantFixture } from "@perseus/testing";
import { eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createInfra,
  createRobot,
  type DispatchEnv,
  type Infra,
  ownerToken,
  startDispatch,
  taskRow,
  waitFor,
} from "./helper.js";
import { TestRobot } from "./robot-client.js";

// T11: a robot paused past its lease must not be able to write once another holder took over.
const ROUNDS = 5;
const TASKS_PER_ROUND = 10;

let infra: Infra;
let env: DispatchEnv;
let tenant: TenantFixture;

beforeAll(async () => {
  infra = await createInfra();
  env = await startDispatch(infra, {
    // Short enough to run 50 takeovers in seconds, long enough for a loaded 2-core machine.
    LEASE_TTL_MS: "800",
    HEARTBEAT_INTERVAL_MS: "150",
    OFFER_TTL_MS: "5000",
    SWEEP_INTERVAL_MS: "200",
    LOCAL_POLL_MS: "250",
    RETRY_BASE_MS: "10",
    TASK_MAX_ATTEMPTS: "5",
  });
  tenant = await createTenant(infra.database.db);
});

afterAll(async () => {
  await env?.close();
  await infra?.redis.cleanup();
  await infra?.database.drop();
});

describe("T11: zombie robot", () => {
  it(`refuses every write of a paused holder after its lease moved on (${ROUNDS * TASKS_PER_ROUND} runs)`, async () => {
    const { db } = infra.database;
    const token = await ownerToken(infra.tokens, tenant);
    let staleAccepted = 0;
    let staleRefused = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const robot = await createRobot(db, infra.tokens, tenant, { maxConcurrency: TASKS_PER_ROUND * 2 });
      const tasks: Task[] = [];
      for (let i = 0; i < TASKS_PER_ROUND; i++) {
        const response = await env.app.inject({
          method: "POST",
          url: "/api/dispatch/tasks",
          headers: { authorization: `Bearer ${token}` },
          payload: { robotId: robot.robotId, prompt: `round ${round} task ${i}` },
        });
        tasks.push(response.json() as Task);
      }
      // The tasks wait in the queue; the first connection gets them all.
      const zombie = (
        await TestRobot.online(env.wsUrl, await robot.token("00000000-0000-4000-8000-00000000000a"), {
          concurrency: TASKS_PER_ROUND,
        })
      ).robot;
      const zombieLeases = await Promise.all(
        tasks.map(async (task) => zombie.accept(await zombie.offer(task.id))),
      );
      expect(zombieLeases.every((lease) => lease.epoch === 1)).toBe(true);

      const successor = (
        await TestRobot.online(env.wsUrl, await robot.token(), { concurrency: TASKS_PER_ROUND })
      ).robot;
      zombie.pause(); // stops heartbeating: the process is "frozen"
      const offers: OfferFrame[] = await Promise.all(tasks.map((task) => successor.offer(task.id, 10_000)));

      const zombieWrites = async () => {
        for (const [index, task] of tasks.entries()) {
          const replies = [
            await zombie.request({
              type: "progress",
              taskId: task.id,
              epoch: 1,
              seq: 1,
              kind: "text",
              data: "late",
            }),
            await zombie.request({
              type: "complete",
              taskId: task.id,
              epoch: 1,
              idempotencyKey: `zombie-${round}-${index}`,
              result: { text: "zombie result" },
            }),
            await zombie.request({ type: "heartbeat", leases: [{ taskId: task.id, epoch: 1 }] }),
          ];
          for (const reply of replies.slice(0, 2)) {
            if (reply.type === "ack") staleAccepted++;
            else {
              expect(["stale_epoch", "lease_expired"]).toContain(reply.code);
              staleRefused++;
            }
          }
          const heartbeat = replies[2] as { result?: { leases?: { expiresAt: string | null }[] } };
          expect(heartbeat.result?.leases?.[0]?.expiresAt).toBeNull();
        }
      };
      // Odd rounds: the zombie wakes before the successor accepts; even rounds: after.
      if (round % 2 === 1) await zombieWrites();
      const successorLeases = await Promise.all(offers.map((offer) => successor.accept(offer)));
      expect(successorLeases.every((lease) => lease.epoch === 2)).toBe(true);
      if (round % 2 === 0) await zombieWrites();
      for (const [index, task] of tasks.entries()) {
        const reply = await successor.request({
          type: "complete",
          taskId: task.id,
          epoch: 2,
          idempotencyKey: `successor-${round}-${index}`,
          result: { text: "successor result" },
        });
        expect(reply).toMatchObject({ type: "ack", result: { status: "succeeded" } });
      }

      const ids = tasks.map((task) => task.id);
      const rows = await withTenant(db, { tenantId: tenant.tenantId }, async (tx) => ({
        tasks: await tx.select().from(schema.tasks).where(inArray(schema.tasks.id, ids)),
        progress: await tx.select().from(schema.taskProgress).where(inArray(schema.taskProgress.taskId, ids)),
        effects: await tx.select().from(schema.taskEffects).where(inArray(schema.taskEffects.taskId, ids)),
      }));
      expect(rows.tasks.every((t) => t.status === "succeeded" && t.result === "successor result")).toBe(true);
      expect(rows.progress).toEqual([]);
      expect(rows.effects.map((e) => e.idempotencyKey).every((key) => key.startsWith("successor-"))).toBe(
        true,
      );
      expect(rows.effects).toHaveLength(TASKS_PER_ROUND);
      await Promise.all([zombie.close(), successor.close()]);
    }
    expect(staleAccepted).toBe(0);
    expect(staleRefused).toBe(ROUNDS * TASKS_PER_ROUND * 2);
  });

  it("a paused holder that wakes before anyone took over still cannot write after expiry", async () => {
    const { db } = infra.database;
    const robot = await createRobot(db, infra.tokens, tenant);
    const { robot: client } = await TestRobot.online(env.wsUrl, await robot.token());
    const response = await env.app.inject({
      method: "POST",
      url: "/api/dispatch/tasks",
      headers: { authorization: `Bearer ${await ownerToken(infra.tokens, tenant)}` },
      payload: { robotId: robot.robotId, prompt: "alone" },
    });
    const task = response.json() as Task;
    await client.accept(await client.offer(task.id));
    client.pause();
    await waitFor(
      "the lease to lapse",
      async () => (await taskRow(db, tenant.tenantId, task.id))?.status !== "running",
    );
    const reply = await client.request({
      type: "complete",
      taskId: task.id,
      epoch: 1,
      idempotencyKey: "too-late-1",
      result: { text: "late" },
    });
    expect(reply).toMatchObject({ type: "error" });
    const effects = await withTenant(db, { tenantId: tenant.tenantId }, (tx) =>
      tx.select().from(schema.taskEffects).where(eq(schema.taskEffects.taskId, task.id)),
    );
    expect(effects).toEqual([]);
    await client.close();
  });
});
