import { createEvent, enqueueEvents } from "@perseus/bus";
import { schema, withTenant } from "@perseus/db";
import type { TenantFixture } from "@perseus/testing";
import { eq, sql } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeTaskReply } from "../src/modules/replies/replies.consumer.js";
import {
  bearer,
  type ChatTestEnv,
  createLeasedTask,
  createMember,
  createRobot,
  type LiveChat,
  type Member,
  PREFIX,
  post,
  startLiveChat,
  waitUntil,
} from "./helper.js";

let live: LiveChat;
let env: ChatTestEnv;
let app: FastifyInstance;
let tenant: TenantFixture;
let alice: Member;
let robotId: string;
let otherChatgroupId: string;

beforeAll(async () => {
  live = await startLiveChat();
  ({ env, app, tenant } = live);
  alice = await createMember(env, tenant);
  robotId = await createRobot(env.database.db, tenant, "jane", { type: "team", id: tenant.teamId });
  otherChatgroupId = crypto.randomUUID();
  await withTenant(env.database.db, tenant, (tx) =>
    tx
      .insert(schema.chatgroups)
      .values({ tenantId: tenant.tenantId, id: otherChatgroupId, teamId: tenant.teamId, name: "other" }),
  );
});

afterAll(async () => {
  await live?.stop();
});

/** A Redis reply of alternating names and values as an object. */
function toRecord(flat: unknown[]): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) record[String(flat[i])] = flat[i + 1];
  return record;
}

const messagesOf = (chatgroupId: string) =>
  withTenant(env.database.db, tenant, (tx) =>
    tx
      .select()
      .from(schema.messages)
      .where(eq(schema.messages.chatgroupId, chatgroupId))
      .orderBy(schema.messages.seq),
  );

describe("robots with a task token", () => {
  it("read and post in their task's chatgroup, and nowhere else", async () => {
    await post(app, alice.token, tenant.chatgroupId, { body: "@jane summarise please" });
    const { token } = await createLeasedTask(env.database.db, tenant, robotId, tenant.chatgroupId);
    const history = await app.inject({
      method: "GET",
      url: `${PREFIX}/chatgroups/${tenant.chatgroupId}/messages`,
      headers: bearer(token),
    });
    expect(history.statusCode).toBe(200);
    expect(history.json().items[0]).toMatchObject({ body: "@jane summarise please" });
    const posted = await post(app, token, tenant.chatgroupId, {
      body: `working on it, @${alice.handle} @jane`,
    });
    expect(posted.status).toBe(201);
    // Robots' own text never invokes robots (no loops), but people are still mentioned.
    expect(posted.body).toMatchObject({
      authorType: "robot",
      authorId: robotId,
      mentions: { users: [alice.id], robots: [] },
    });

    for (const [method, url] of [
      ["GET", `${PREFIX}/chatgroups/${otherChatgroupId}/messages`],
      ["POST", `${PREFIX}/chatgroups/${otherChatgroupId}/messages`],
      ["GET", `${PREFIX}/messages/${crypto.randomUUID()}`],
    ] as const) {
      const response = await app.inject({
        method,
        url,
        headers: bearer(token),
        ...(method === "POST" ? { payload: { body: "x" } } : {}),
      });
      expect(response.statusCode, url).toBe(404);
    }
    for (const route of ["/chatgroups", "/search?q=x", "/realtime/tickets"]) {
      const response = await app.inject({
        method: route.includes("tickets") ? "POST" : "GET",
        url: PREFIX + route,
        headers: bearer(token),
      });
      expect(response.statusCode, route).toBe(403);
    }
  });

  it("refuses tokens whose lease is gone, forged or from another tenant", async () => {
    const { token, taskId } = await createLeasedTask(env.database.db, tenant, robotId, tenant.chatgroupId);
    const tries = [
      token.slice(0, -2) + (token.endsWith("AA") ? "BB" : "AA"),
      `ptt_${crypto.randomUUID()}_${taskId}_${token.slice(-43)}`,
      "ptt_garbage",
    ];
    for (const bad of tries) {
      const response = await app.inject({
        method: "GET",
        url: `${PREFIX}/chatgroups/${tenant.chatgroupId}/messages`,
        headers: bearer(bad),
      });
      expect(response.statusCode, bad).toBe(401);
    }
    await withTenant(env.database.db, tenant, (tx) =>
      tx
        .update(schema.tasks)
        .set({ leaseExpiresAt: sql`now() - interval '1 second'` })
        .where(eq(schema.tasks.id, taskId)),
    );
    const expired = await app.inject({
      method: "GET",
      url: `${PREFIX}/chatgroups/${tenant.chatgroupId}/messages`,
      headers: bearer(token),
    });
    expect(expired.statusCode).toBe(401);
  });
});

describe("robot replies from task.succeeded", () => {
  it("stores the reply exactly once however often the event arrives", async () => {
    const chatgroupId = otherChatgroupId;
    const watcher = await live.connect(alice);
    watcher.send({ type: "subscribe", chatgroupId });
    await watcher.waitForFrame("subscribed");
    const invoking = await post(app, alice.token, chatgroupId, { body: "@jane do the thing" });
    const taskId = crypto.randomUUID();
    const payload = { taskId, robotId, chatgroupId, messageId: invoking.body.id, result: "Done: the thing." };
    const event = createEvent("task.succeeded", tenant.tenantId, payload);
    const again = createEvent("task.succeeded", tenant.tenantId, payload); // same task, another event id
    // The same event twice (a relay re-publish) plus a second event for the same task, through the stream.
    await withTenant(env.database.db, tenant, (tx) => enqueueEvents(tx, [event]));
    await withTenant(env.database.db, tenant, (tx) => enqueueEvents(tx, [event, again]));
    // And handled directly, concurrently, as two replicas would.
    await Promise.all([
      storeTaskReply(env.database.db, event, { maxBytes: 32_768 }),
      storeTaskReply(env.database.db, again, { maxBytes: 32_768 }),
    ]);
    const reply = await watcher.waitForFrame("message", (f) => f.message.taskId === taskId);
    expect(reply.message).toMatchObject({
      authorType: "robot",
      authorId: robotId,
      body: "Done: the thing.",
      seq: 2,
    });
    const stream = `${env.redis.prefix}:events:{task}`;
    await waitUntil("all three deliveries handled and acknowledged", async () => {
      const groups = (await env.redis.client.xinfo("GROUPS", stream)) as unknown[][];
      const group = groups.map(toRecord).find((g) => g.name === "chat-replies");
      const [last] = (await env.redis.client.xrevrange(stream, "+", "-", "COUNT", 1))[0] ?? [];
      return group?.pending === 0 && group["last-delivered-id"] === last;
    });
    const rows = await messagesOf(chatgroupId);
    expect(rows.map((row) => [row.seq, row.authorType, row.taskId])).toEqual([
      [1, "user", null],
      [2, "robot", taskId],
    ]);
    await post(app, alice.token, chatgroupId, { body: "thanks" });
    await watcher.waitFor("3 messages", () => watcher.seqs(chatgroupId).length === 3);
    expect(watcher.seqs(chatgroupId)).toEqual([1, 2, 3]);
  });

  it("truncates oversized results instead of failing them", async () => {
    const taskId = crypto.randomUUID();
    const event = createEvent("task.succeeded", tenant.tenantId, {
      taskId,
      robotId,
      chatgroupId: otherChatgroupId,
      messageId: null,
      result: "ü".repeat(40_000),
    });
    const stored = await storeTaskReply(env.database.db, event, { maxBytes: 32_768 });
    expect(stored?.body.endsWith("…(truncated)")).toBe(true);
    expect(Buffer.byteLength(stored?.body ?? "")).toBeLessThanOrEqual(32_768);
  });
});
