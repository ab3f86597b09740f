import type { Task } from "@perseus/contracts";
import { schema, withTenant } from "@perseus/db";
import { createTenant, type Scrape, scrapeMetrics, type TenantFixture } from "@perseus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createInfra,
  createRobot,
  type DispatchEnv,
  type Infra,
  ownerToken,
  startDispatch,
} from "./helper.js";
import { TestRobot } from "./robot-client.js";

// Scrape-time readings are cached for a few seconds: poll with room for that and a busy machine.
const POLL = { timeout: 30_000, interval: 250 };

let infra: Infra;
let tenant: TenantFixture;
let env: DispatchEnv | undefined;

beforeAll(async () => {
  infra = await createInfra();
  tenant = await createTenant(infra.database.db);
});
afterAll(async () => {
  await env?.close();
  await infra?.redis.cleanup();
  await infra?.database.drop();
});

const scrape = () => scrapeMetrics((env as DispatchEnv).app);
const metricValue = async (name: string, labels?: Record<string, string>) =>
  (await scrape()).value(name, labels);

async function createTask(robotId: string, prompt: string): Promise<Task> {
  const token = await ownerToken(infra.tokens, tenant);
  const response = await (env as DispatchEnv).app.inject({
    method: "POST",
    url: "/api/dispatch/tasks",
    headers: { authorization: `Bearer ${token}` },
    payload: { robotId, prompt },
  });
  expect(response.statusCode).toBe(201);
  return response.json() as Task;
}

describe("dispatch metrics with background work running", () => {
  beforeAll(async () => {
    env = await startDispatch(infra, { LEASE_TTL_MS: "1500", OFFER_TTL_MS: "30000" });
  });
  afterAll(async () => {
    await env?.close();
    env = undefined;
  });

  it("counts robot connections: 1 while open, 0 once closed", async () => {
    const robot = await createRobot(infra.database.db, infra.tokens, tenant);
    const before = await scrape();
    expect(before.value("perseus_dispatch_robot_connections", { transport: "ws" })).toBe(0);
    expect(before.value("perseus_dispatch_connected_robots")).toBe(0);

    const { robot: client } = await TestRobot.online((env as DispatchEnv).wsUrl, await robot.token());
    const open = await scrape();
    expect(open.value("perseus_dispatch_robot_connections", { transport: "ws" })).toBe(1);
    expect(open.value("perseus_dispatch_robot_connections", { transport: "poll" })).toBe(0);
    expect(open.value("perseus_dispatch_connected_robots")).toBe(1);

    await client.close();
    await expect
      .poll(() => metricValue("perseus_dispatch_robot_connections", { transport: "ws" }), POLL)
      .toBe(0);
    expect(await metricValue("perseus_dispatch_connected_robots")).toBe(0);
  });

  it("counts lease grants, expiries and a stale holder's refused completion", async () => {
    const robot = await createRobot(infra.database.db, infra.tokens, tenant, { maxConcurrency: 1 });
    const task = await createTask(robot.robotId, "expire me");
    const base = await scrape();
    const counter = (s: Scrape, name: string, labels?: Record<string, string>) => s.value(name, labels) ?? 0;
    const grantsBefore = counter(base, "perseus_dispatch_lease_grants_total");
    const expiriesBefore = counter(base, "perseus_dispatch_lease_expiries_total", { kind: "lease" });

    const { robot: client } = await TestRobot.online((env as DispatchEnv).wsUrl, await robot.token());
    const lease = await client.accept(await client.offer(task.id, 15_000));
    expect(await metricValue("perseus_dispatch_lease_grants_total")).toBe(grantsBefore + 1);

    client.pause(); // no more heartbeats: the sweeper ends the lease after its TTL
    await expect
      .poll(() => metricValue("perseus_dispatch_lease_expiries_total", { kind: "lease" }), POLL)
      .toBe(expiriesBefore + 1);

    const reply = await client.request({
      type: "complete",
      taskId: task.id,
      epoch: lease.epoch,
      idempotencyKey: "metrics-late-completion",
      result: { text: "too late" },
    });
    expect(reply.type).toBe("error");
    const code = (reply as { code: string }).code;
    expect(["stale_epoch", "lease_expired"]).toContain(code);
    expect(await metricValue("perseus_dispatch_lease_ends_total", { frame: "complete", outcome: code })).toBe(
      1,
    );
    expect(
      await metricValue("perseus_dispatch_lease_ends_total", { frame: "complete", outcome: "accepted" }),
    ).toBe(0);
    await client.close();
  });

  it("shows the depth of the BullMQ queues", async () => {
    const runtime = (env as DispatchEnv).app.dispatch;
    await expect.poll(() => runtime.queues().length, POLL).toBe(3);
    const retry = runtime.queues().find((queue) => queue.name === "dispatch.retry");
    if (!retry) throw new Error("no retry queue");
    // Earlier tests' retries are due within a second: let them run so the count is ours alone.
    await expect.poll(() => retry.queue.getDelayedCount(), POLL).toBe(0);
    const depth = () => metricValue("perseus_queue_jobs", { queue: "dispatch.retry", state: "delayed" });
    await expect.poll(depth, POLL).toBe(0);
    await retry.add(
      { tenantId: tenant.tenantId, robotId: tenant.tenantId },
      { delay: 600_000, jobId: "probe" },
    );
    await expect.poll(depth, POLL).toBe(1);
    expect(await metricValue("perseus_queue_jobs", { queue: "dispatch.retry", state: "failed" })).toBe(0);
  });

  it("counts entries its consumer dead-letters", async () => {
    const { client, prefix } = infra.redis;
    const stream = `${prefix}:events:{chat}`;
    await client.xadd(stream, "*", "e", "this is not an event");
    await expect
      .poll(
        () => metricValue("perseus_stream_dead_lettered_total", { stream: "chat", group: "dispatch" }),
        POLL,
      )
      .toBe(1);
    await expect.poll(() => metricValue("perseus_stream_dead_letters", { stream: "chat" }), POLL).toBe(1);
  });
});

describe("dispatch metrics with the relay and consumer stopped", () => {
  beforeAll(async () => {
    env = await startDispatch(infra, { DISPATCH_BACKGROUND: "false" });
  });
  afterAll(async () => {
    await env?.close();
    env = undefined;
  });

  it("reports consumer lag of entries published while no consumer reads", async () => {
    const { client, prefix } = infra.redis;
    const stream = `${prefix}:events:{chat}`;
    await expect
      .poll(() => metricValue("perseus_stream_consumer_lag", { stream: "chat", group: "dispatch" }), POLL)
      .toBe(0);
    for (const n of [1, 2]) await client.xadd(stream, "*", "e", `{"unread":${n}}`);
    await expect
      .poll(() => metricValue("perseus_stream_consumer_lag", { stream: "chat", group: "dispatch" }), POLL)
      .toBe(2);
    expect(await metricValue("perseus_stream_consumer_pending", { stream: "chat", group: "dispatch" })).toBe(
      0,
    );
  });

  it("reports the outbox backlog and pending tasks by state across tenants", async () => {
    const other = await createTenant(infra.database.db);
    const robot = await createRobot(infra.database.db, infra.tokens, tenant);
    const otherRobot = await createRobot(infra.database.db, infra.tokens, other);
    const queuedBefore = (await metricValue("perseus_dispatch_tasks", { state: "queued" })) ?? 0;
    await createTask(robot.robotId, "waits in the queue");
    const token = await ownerToken(infra.tokens, other);
    const response = await (env as DispatchEnv).app.inject({
      method: "POST",
      url: "/api/dispatch/tasks",
      headers: { authorization: `Bearer ${token}` },
      payload: { robotId: otherRobot.robotId, prompt: "another tenant's" },
    });
    expect(response.statusCode).toBe(201);

    // The backlog is every tenant's unrelayed rows on the topic: read them tenant by tenant.
    const outboxRows = async (tenantId: string) =>
      withTenant(infra.database.db, { tenantId }, async (tx) =>
        (await tx.select({ topic: schema.outbox.topic }).from(schema.outbox)).filter(
          (row) => row.topic === "task",
        ),
      );
    const expected = (await outboxRows(tenant.tenantId)).length + (await outboxRows(other.tenantId)).length;
    expect(expected).toBeGreaterThanOrEqual(2);
    await expect.poll(() => metricValue("perseus_outbox_backlog", { topic: "task" }), POLL).toBe(expected);
    expect(await metricValue("perseus_outbox_oldest_age_seconds", { topic: "task" })).toBeGreaterThanOrEqual(
      0,
    );
    await expect
      .poll(() => metricValue("perseus_dispatch_tasks", { state: "queued" }), POLL)
      .toBe(queuedBefore + 2);
    expect(await metricValue("perseus_dispatch_tasks", { state: "running" })).toBe(0);
  });
});
