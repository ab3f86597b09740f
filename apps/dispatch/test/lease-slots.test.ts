import type { Task } from "@perseus/contracts";
import { createTenant, type TenantFixture } from "@perseus/testing";
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

// Found by the fault suite (T17): under load a lease lapsed mid-task, the robot's next progress
// was refused, the robot dropped the task (as the protocol says) and heartbeated without it —
// but the connection kept counting the lease, so a robot with one slot was never offered work again.
let infra: Infra;
let env: DispatchEnv;
let tenant: TenantFixture;

beforeAll(async () => {
  infra = await createInfra();
  env = await startDispatch(infra, { LEASE_TTL_MS: "600", HEARTBEAT_INTERVAL_MS: "100" });
  tenant = await createTenant(infra.database.db);
});

afterAll(async () => {
  await env?.close();
  await infra?.redis.cleanup();
  await infra?.database.drop();
});

describe("connection slots", () => {
  it("a lease whose progress is refused as expired frees its slot: the task is offered again", async () => {
    const robot = await createRobot(infra.database.db, infra.tokens, tenant, { maxConcurrency: 1 });
    const response = await env.app.inject({
      method: "POST",
      url: "/api/dispatch/tasks",
      headers: { authorization: `Bearer ${await ownerToken(infra.tokens, tenant)}` },
      payload: { robotId: robot.robotId, prompt: "echo slot" },
    });
    const task = response.json() as Task;
    const { robot: bot } = await TestRobot.online(env.wsUrl, await robot.token(), { concurrency: 1 });
    const lease = await bot.accept(await bot.offer(task.id));

    bot.pause(); // a frozen robot: no heartbeats, so the sweep ends the lease
    await waitFor("the lease to lapse", async () => {
      const row = await taskRow(infra.database.db, tenant.tenantId, task.id);
      return row?.status === "queued" && row.leaseEpoch === lease.epoch;
    });
    const refused = await bot.request({
      type: "progress",
      taskId: task.id,
      epoch: lease.epoch,
      seq: 1,
      kind: "stdout",
      data: "late output",
    });
    expect(refused).toMatchObject({ type: "error", code: "lease_expired" });

    // The robot stops that work and heartbeats again, holding nothing.
    bot.leases.delete(task.id);
    bot.startHeartbeat(50);
    const again = await bot.offer(task.id, 20_000);
    expect(again.task.id).toBe(task.id);
    const second = await bot.accept(again);
    expect(second.epoch).toBe(lease.epoch + 1);
    bot.close();
  });
});
