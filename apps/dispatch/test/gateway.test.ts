import { randomUUID } from "node:crypto";
import { RobotCloseCode, type Task } from "@perseus/contracts";
import { type Db, schema, withTenant } from "@perseus/db";
import { createTenant, type TenantFixture } from "@perseus/testing";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import {
  createInfra,
  createRobot,
  type DispatchEnv,
  type Infra,
  ownerToken,
  type RobotFixture,
  startDispatch,
  taskRow,
} from "./helper.js";
import { TestRobot } from "./robot-client.js";

let infra: Infra;
let env: DispatchEnv;
let tenant: TenantFixture;
let otherTenant: TenantFixture;

beforeAll(async () => {
  infra = await createInfra();
  env = await startDispatch(infra, {
    MAX_FRAME_BYTES: "4096",
    MAX_FRAMES_PER_SECOND: "40",
    HELLO_TIMEOUT_MS: "300",
    ROBOT_MAX_CONNECTIONS: "2",
  });
  tenant = await createTenant(infra.database.db);
  otherTenant = await createTenant(infra.database.db);
});

afterAll(async () => {
  await env?.close();
  await infra?.redis.cleanup();
  await infra?.database.drop();
});

async function upgradeStatus(headers: Record<string, string>): Promise<number> {
  const socket = new WebSocket(env.wsUrl, { headers });
  return new Promise((resolve) => {
    socket.once("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
    socket.once("open", () => {
      socket.close();
      resolve(101);
    });
    socket.once("error", () => {});
  });
}

async function createTask(robot: RobotFixture, owner = tenant): Promise<Task> {
  const token = await ownerToken(infra.tokens, owner);
  const response = await env.app.inject({
    method: "POST",
    url: "/api/dispatch/tasks",
    headers: { authorization: `Bearer ${token}` },
    payload: { robotId: robot.robotId, prompt: "work" },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json() as Task;
}

/** Everything a robot write could have changed about a task. */
async function snapshot(db: Db, tenantId: string, taskId: string) {
  return withTenant(db, { tenantId }, async (tx) => ({
    task: await tx.select().from(schema.tasks).where(eq(schema.tasks.id, taskId)),
    progress: await tx.select().from(schema.taskProgress).where(eq(schema.taskProgress.taskId, taskId)),
    effects: await tx.select().from(schema.taskEffects).where(eq(schema.taskEffects.taskId, taskId)),
    attempts: await tx.select().from(schema.taskAttempts).where(eq(schema.taskAttempts.taskId, taskId)),
  }));
}

describe("robot gateway: handshake and bad frames", () => {
  it("refuses the upgrade without a robot token, with a user token and from a foreign origin", async () => {
    const robot = await createRobot(infra.database.db, infra.tokens, tenant);
    expect(await upgradeStatus({})).toBe(401);
    expect(await upgradeStatus({ authorization: "Bearer not.a.token" })).toBe(401);
    const userToken = await ownerToken(infra.tokens, tenant);
    expect(await upgradeStatus({ authorization: `Bearer ${userToken}` })).toBe(401);
    expect(
      await upgradeStatus({ authorization: `Bearer ${await robot.token()}`, origin: "https://evil.example" }),
    ).toBe(403);
    expect(await upgradeStatus({ authorization: `Bearer ${await robot.token()}` })).toBe(101);
  });

  it("closes 4003 without hello and 4002 without a common version", async () => {
    const robot = await createRobot(infra.database.db, infra.tokens, tenant);
    const silent = await TestRobot.connect(env.wsUrl, await robot.token());
    expect((await silent.closed).code).toBe(RobotCloseCode.helloTimeout);

    const future = await TestRobot.connect(env.wsUrl, await robot.token());
    await expect(future.hello({ min: 2, max: 3 })).rejects.toThrow(/unsupported_version/);
    expect((await future.closed).code).toBe(RobotCloseCode.unsupportedVersion);
  });

  it("answers invalid JSON, unknown types and invalid fields with error frames and stays open", async () => {
    const robot = await createRobot(infra.database.db, infra.tokens, tenant);
    const client = await TestRobot.connect(env.wsUrl, await robot.token());
    const early = await client.request({ type: "heartbeat", leases: [] });
    expect(early).toMatchObject({ type: "error", code: "hello_required" });
    const welcome = await client.hello();
    // The server's view, never the client's: identity comes from the token and the database.
    expect(welcome.robot).toMatchObject({
      id: robot.robotId,
      tenantId: tenant.tenantId,
      handle: robot.handle,
    });

    client.sendRaw("{not json");
    expect(await client.next((f) => f.type === "error")).toMatchObject({ ref: null, code: "invalid_frame" });
    client.sendRaw("[1,2]");
    expect(await client.next((f) => f.type === "error")).toMatchObject({ code: "invalid_frame" });
    expect(await client.request({ type: "teleport" })).toMatchObject({ code: "unknown_frame" });
    expect(await client.request({ type: "progress", taskId: "x", epoch: 0 })).toMatchObject({
      code: "invalid_frame",
    });
    expect(client.isOpen).toBe(true);
    const ok = await client.request({ type: "heartbeat", leases: [] });
    expect(ok).toMatchObject({ type: "ack", result: { leases: [] } });
    await client.close();
  });

  it("closes 1009 on an oversized frame and 4008 on a flood", async () => {
    const robot = await createRobot(infra.database.db, infra.tokens, tenant);
    const big = (await TestRobot.online(env.wsUrl, await robot.token())).robot;
    big.sendRaw(JSON.stringify({ type: "heartbeat", id: "x", leases: [], pad: "x".repeat(8_000) }));
    expect((await big.closed).code).toBe(RobotCloseCode.frameTooLarge);

    const flood = (await TestRobot.online(env.wsUrl, await robot.token(), { concurrency: 1 })).robot;
    flood.pause();
    for (let i = 0; i < 200; i++) flood.send({ type: "heartbeat", id: `f${i}`, leases: [] });
    expect((await flood.closed).code).toBe(RobotCloseCode.rateLimited);
  });

  it("closes 4000 after a run of invalid frames", async () => {
    const robot = await createRobot(infra.database.db, infra.tokens, tenant);
    const { robot: client } = await TestRobot.online(env.wsUrl, await robot.token());
    client.pause();
    for (let i = 0; i < 25; i++) client.sendRaw("nope");
    expect((await client.closed).code).toBe(RobotCloseCode.protocolError);
  });

  it("replaces the oldest connection beyond the per-robot limit (4009)", async () => {
    const robot = await createRobot(infra.database.db, infra.tokens, tenant);
    const first = (await TestRobot.online(env.wsUrl, await robot.token())).robot;
    const second = (await TestRobot.online(env.wsUrl, await robot.token())).robot;
    const third = (await TestRobot.online(env.wsUrl, await robot.token())).robot;
    expect((await first.closed).code).toBe(RobotCloseCode.replaced);
    expect(second.isOpen && third.isOpen).toBe(true);
    await second.close();
    await third.close();
  });

  it("refuses stale epochs, other robots' tasks and other tenants' tasks, changing nothing", async () => {
    const { db } = infra.database;
    const owner = await createRobot(db, infra.tokens, tenant);
    const intruder = await createRobot(db, infra.tokens, tenant);
    const foreigner = await createRobot(db, infra.tokens, otherTenant);
    const task = await createTask(owner);
    const { robot: client } = await TestRobot.online(env.wsUrl, await owner.token());
    const offer = await client.offer(task.id);
    const first = await client.accept(offer);
    // Give the lease back and take it again: epoch 1 is now stale.
    expect(await client.request({ type: "release", taskId: task.id, epoch: first.epoch })).toMatchObject({
      type: "ack",
    });
    const second = await client.accept(await client.offer(task.id));
    expect(second.epoch).toBe(2);
    const before = await snapshot(db, tenant.tenantId, task.id);

    const writes = (epoch: number) => [
      { type: "progress", taskId: task.id, epoch, seq: 1, kind: "text", data: "sneaky" },
      {
        type: "complete",
        taskId: task.id,
        epoch,
        idempotencyKey: `k-${randomUUID()}`,
        result: { text: "forged" },
      },
      {
        type: "fail",
        taskId: task.id,
        epoch,
        idempotencyKey: `k-${randomUUID()}`,
        error: { message: "x", retryable: false },
      },
      { type: "release", taskId: task.id, epoch },
      { type: "cancelled", taskId: task.id, epoch },
    ];
    for (const frame of writes(1)) {
      expect(await client.request(frame), frame.type).toMatchObject({ type: "error", code: "stale_epoch" });
    }
    const { robot: other } = await TestRobot.online(env.wsUrl, await intruder.token());
    for (const frame of writes(2)) {
      expect(await other.request(frame), frame.type).toMatchObject({ type: "error", code: "not_found" });
    }
    expect(await other.request({ type: "accept", taskId: task.id, offerId: offer.offerId })).toMatchObject({
      type: "error",
      code: "not_found",
    });
    const { robot: alien } = await TestRobot.online(env.wsUrl, await foreigner.token());
    for (const frame of writes(2)) {
      expect(await alien.request(frame), frame.type).toMatchObject({ type: "error", code: "not_found" });
    }
    const heartbeat = await alien.request({ type: "heartbeat", leases: [{ taskId: task.id, epoch: 2 }] });
    expect(heartbeat).toMatchObject({
      type: "ack",
      result: { leases: [{ taskId: task.id, expiresAt: null }] },
    });
    const after = await snapshot(db, tenant.tenantId, task.id);
    // Heartbeats of the real holder may extend the lease meanwhile; nothing else may move.
    const strip = (s: typeof before) => ({ ...s, task: s.task.map((t) => ({ ...t, leaseExpiresAt: null })) });
    expect(strip(after)).toEqual(strip(before));
    expect((await taskRow(db, tenant.tenantId, task.id))?.status).toBe("running");
    await Promise.all([client.close(), other.close(), alien.close()]);
  });
});
