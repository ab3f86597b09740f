import { createHash } from "node:crypto";
import { type Task, type TaskDetail, TaskDetail as TaskDetailSchema } from "@perseus/contracts";
import { access, schema, withTenant } from "@perseus/db";
import { createTenant, type TenantFixture } from "@perseus/testing";
import { eq } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createInfra,
  createRobot,
  type DispatchEnv,
  type Infra,
  ownerToken,
  readEvents,
  startDispatch,
  taskRow,
  waitFor,
} from "./helper.js";
import { TestRobot } from "./robot-client.js";

let infra: Infra;
let env: DispatchEnv;
let tenant: TenantFixture;
let userToken: string;

beforeAll(async () => {
  infra = await createInfra();
  env = await startDispatch(infra);
  tenant = await createTenant(infra.database.db);
  userToken = await ownerToken(infra.tokens, tenant);
});

afterAll(async () => {
  await env?.close();
  await infra?.redis.cleanup();
  await infra?.database.drop();
});

async function createTask(body: Record<string, unknown>): Promise<Task> {
  const response = await env.app.inject({
    method: "POST",
    url: "/api/dispatch/tasks",
    headers: { authorization: `Bearer ${userToken}` },
    payload: body,
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json() as Task;
}

describe("offer → accept → progress → complete", () => {
  it("runs a task end to end with events, history and an idempotent result", async () => {
    const { db } = infra.database;
    const robot = await createRobot(db, infra.tokens, tenant, { scopes: [{ type: "chatgroup" }] });
    // Chat history the offer should carry (written as the chat service would).
    const messageIds = [uuidv7(), uuidv7(), uuidv7()];
    await withTenant(db, { tenantId: tenant.tenantId }, async (tx) => {
      for (const [index, id] of messageIds.entries()) {
        await tx.insert(schema.messages).values({
          tenantId: tenant.tenantId,
          id,
          chatgroupId: tenant.chatgroupId,
          seq: index + 1,
          authorType: "user",
          authorId: tenant.owner.id,
          body: `message ${index + 1}`,
        });
      }
    });
    const { robot: client, welcome } = await TestRobot.online(env.wsUrl, await robot.token(), {
      concurrency: 2,
    });
    expect(welcome.robot).toMatchObject({
      id: robot.robotId,
      tenantId: tenant.tenantId,
      handle: robot.handle,
    });
    expect(welcome.policy.leaseTtlMs).toBe(2000);
    expect(welcome.policy.maxConcurrency).toBe(2);
    expect(welcome.resumed).toEqual([]);

    const task = await createTask({
      robotHandle: robot.handle,
      prompt: "summarise",
      chatgroupId: tenant.chatgroupId,
    });
    expect(task.status).toBe("queued");
    const offer = await client.offer(task.id);
    expect(offer.task.prompt).toBe("summarise");
    expect(offer.task.history.map((m) => m.body)).toEqual(["message 1", "message 2", "message 3"]);
    expect(offer.task.history[0]?.authorName).toMatch(/^User /);
    expect((await taskRow(db, tenant.tenantId, task.id))?.status).toBe("offered");

    const lease = await client.accept(offer);
    expect(lease.epoch).toBe(1);
    // The task token is bound to the live lease; other services check it with findLiveTaskLease.
    const tokenHash = createHash("sha256").update(lease.taskToken).digest("hex");
    const live = await withTenant(db, { tenantId: tenant.tenantId }, (tx) =>
      access.findLiveTaskLease(tx, task.id, tokenHash),
    );
    expect(live).toMatchObject({
      taskId: task.id,
      robotId: robot.robotId,
      epoch: 1,
      chatgroupId: tenant.chatgroupId,
    });

    for (const seq of [1, 2]) {
      const ack = await client.request({
        type: "progress",
        taskId: task.id,
        epoch: 1,
        seq,
        kind: "text",
        data: `part ${seq}`,
      });
      expect(ack).toMatchObject({ type: "ack", result: { duplicate: false } });
    }
    const duplicateProgress = await client.request({
      type: "progress",
      taskId: task.id,
      epoch: 1,
      seq: 2,
      kind: "text",
      data: "part 2",
    });
    expect(duplicateProgress).toMatchObject({ type: "ack", result: { duplicate: true } });

    const complete = {
      type: "complete",
      taskId: task.id,
      epoch: 1,
      idempotencyKey: "result-key-1",
      result: { text: "all done", usage: { inputTokens: 10, outputTokens: 5 } },
    };
    const first = await client.request(complete);
    expect(first).toMatchObject({ type: "ack", result: { status: "succeeded", duplicate: false } });
    const again = await client.request(complete);
    expect(again).toMatchObject({ type: "ack", result: { status: "succeeded", duplicate: true } });

    const effects = await withTenant(db, { tenantId: tenant.tenantId }, (tx) =>
      tx.select().from(schema.taskEffects).where(eq(schema.taskEffects.taskId, task.id)),
    );
    expect(effects).toHaveLength(1);
    const row = await taskRow(db, tenant.tenantId, task.id);
    expect(row).toMatchObject({ status: "succeeded", result: "all done", attempt: 1, taskTokenHash: null });
    expect(
      await withTenant(db, { tenantId: tenant.tenantId }, (tx) =>
        access.findLiveTaskLease(tx, task.id, tokenHash),
      ),
    ).toBeNull();

    // The outbox reached the task stream: every status, each progress entry once, one success.
    const events = await waitFor("the success event", async () => {
      const all = (await readEvents(infra.redis.client, env.prefix, "task")).filter(
        (e) => (e.payload as { taskId: string }).taskId === task.id,
      );
      return all.some((e) => e.type === "task.succeeded") ? all : undefined;
    });
    const statuses = events
      .filter((e) => e.type === "task.status")
      .map((e) => (e.payload as { status: string }).status);
    expect(statuses).toEqual(["queued", "offered", "running", "succeeded"]);
    const progress = events
      .filter((e) => e.type === "task.progress")
      .map((e) => e.payload as { seq: number });
    expect(progress.map((p) => p.seq)).toEqual([1, 2]);
    const succeeded = events.filter((e) => e.type === "task.succeeded");
    expect(succeeded).toHaveLength(1);
    expect(succeeded[0]?.payload).toMatchObject({ result: "all done", chatgroupId: tenant.chatgroupId });

    // The API shows attempts and the progress log, with the version as a strong ETag.
    const response = await env.app.inject({
      method: "GET",
      url: `/api/dispatch/tasks/${task.id}`,
      headers: { authorization: `Bearer ${userToken}` },
    });
    expect(response.statusCode).toBe(200);
    const detail: TaskDetail = TaskDetailSchema.parse(response.json());
    expect(response.headers.etag).toBe(`"${detail.version}"`);
    expect(detail.attempts).toEqual([
      expect.objectContaining({ attempt: 1, epoch: 1, outcome: "succeeded" }),
    ]);
    expect(detail.progress.map((p) => p.data)).toEqual(["part 1", "part 2"]);
    expect(detail.usage).toEqual({ inputTokens: 10, outputTokens: 5 });
    await client.close();
  });

  it("fails and retries with backoff until the attempts are used up, then lists the dead letter", async () => {
    const { db } = infra.database;
    const robot = await createRobot(db, infra.tokens, tenant);
    const { robot: client } = await TestRobot.online(env.wsUrl, await robot.token());
    const task = await createTask({ robotId: robot.robotId, prompt: "flaky" });
    for (let attempt = 1; attempt <= 3; attempt++) {
      const offer = await client.offer(task.id);
      expect(offer.task.attempt).toBe(attempt);
      const lease = await client.accept(offer);
      const reply = await client.request({
        type: "fail",
        taskId: task.id,
        epoch: lease.epoch,
        idempotencyKey: `fail-key-${attempt}`,
        error: { message: `boom ${attempt}`, retryable: true },
      });
      expect(reply, JSON.stringify(reply)).toMatchObject({
        type: "ack",
        result: { status: attempt < 3 ? "queued" : "dead" },
      });
    }
    const row = await taskRow(db, tenant.tenantId, task.id);
    expect(row).toMatchObject({ status: "dead", attempt: 3, error: "boom 3" });
    const list = await env.app.inject({
      method: "GET",
      url: `/api/dispatch/dead-letters?robotId=${robot.robotId}`,
      headers: { authorization: `Bearer ${userToken}` },
    });
    expect(list.json().items.map((t: Task) => t.id)).toEqual([task.id]);

    // Retry (owner) puts it back with fresh attempts; it is offered again and can succeed.
    const retried = await env.app.inject({
      method: "POST",
      url: `/api/dispatch/tasks/${task.id}/retry`,
      headers: { authorization: `Bearer ${userToken}` },
    });
    expect(retried.statusCode, retried.body).toBe(200);
    expect(retried.json()).toMatchObject({ status: "queued", attempt: 0 });
    const lease = await client.accept(await client.offer(task.id));
    const done = await client.request({
      type: "complete",
      taskId: task.id,
      epoch: lease.epoch,
      idempotencyKey: "finally-ok",
      result: { text: "ok" },
    });
    expect(done).toMatchObject({ type: "ack", result: { status: "succeeded" } });
    await client.close();
  });

  it("cancels a running task through the robot: cancel frame, cancelled ack, task cancelled", async () => {
    const { db } = infra.database;
    const robot = await createRobot(db, infra.tokens, tenant);
    const { robot: client } = await TestRobot.online(env.wsUrl, await robot.token());
    const task = await createTask({ robotId: robot.robotId, prompt: "long job" });
    const lease = await client.accept(await client.offer(task.id));
    const url = `/api/dispatch/tasks/${task.id}/cancel`;
    const auth = { authorization: `Bearer ${userToken}` };

    const noPrecondition = await env.app.inject({ method: "POST", url, headers: auth });
    expect(noPrecondition.statusCode, noPrecondition.body).toBe(428);
    const stale = await env.app.inject({ method: "POST", url, headers: { ...auth, "if-match": '"1"' } });
    expect(stale.statusCode).toBe(412);
    expect((await taskRow(db, tenant.tenantId, task.id))?.cancelRequestedAt).toBeNull();

    const current = await env.app.inject({
      method: "GET",
      url: `/api/dispatch/tasks/${task.id}`,
      headers: auth,
    });
    const cancel = await env.app.inject({
      method: "POST",
      url,
      headers: { ...auth, "if-match": current.headers.etag as string },
    });
    expect(cancel.statusCode, cancel.body).toBe(200);
    expect(cancel.json()).toMatchObject({ status: "running" });
    expect(cancel.json().cancelRequestedAt).not.toBeNull();

    const frame = await client.next(
      (f) => f.type === "cancel" && (f as { taskId: string }).taskId === task.id,
    );
    expect(frame).toMatchObject({ epoch: lease.epoch });
    const ack = await client.request({ type: "cancelled", taskId: task.id, epoch: lease.epoch });
    expect(ack).toMatchObject({ type: "ack", result: { status: "cancelled" } });
    expect((await taskRow(db, tenant.tenantId, task.id))?.status).toBe("cancelled");
    const audit = await withTenant(db, { tenantId: tenant.tenantId }, (tx) =>
      tx.select().from(schema.auditEvents).where(eq(schema.auditEvents.targetId, task.id)),
    );
    expect(audit.map((a) => a.action).sort()).toEqual(["task.cancel", "task.create"]);
    await client.close();
  });

  it("ends a running task cancelled when the robot never confirms and its lease runs out", async () => {
    const { db } = infra.database;
    const robot = await createRobot(db, infra.tokens, tenant);
    const { robot: client } = await TestRobot.online(env.wsUrl, await robot.token());
    const task = await createTask({ robotId: robot.robotId, prompt: "stubborn" });
    await client.accept(await client.offer(task.id));
    const detail = await env.app.inject({
      method: "GET",
      url: `/api/dispatch/tasks/${task.id}`,
      headers: { authorization: `Bearer ${userToken}` },
    });
    await env.app.inject({
      method: "POST",
      url: `/api/dispatch/tasks/${task.id}/cancel`,
      headers: { authorization: `Bearer ${userToken}`, "if-match": detail.headers.etag as string },
    });
    client.terminate(); // gone without a word
    const row = await waitFor(
      "the lease to lapse",
      async () => {
        const found = await taskRow(db, tenant.tenantId, task.id);
        return found?.status === "cancelled" ? found : undefined;
      },
      8_000,
    );
    expect(row.finishedAt).not.toBeNull();
  });
});
