import { createEvent, enqueueEvents } from "@perseus/bus";
import { schema, withTenant } from "@perseus/db";
import type { TenantFixture } from "@perseus/testing";
import { eq, sql } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildTestApp,
  type ChatTestEnv,
  connect,
  createChatgroup,
  createMember,
  createPrivateChatgroup,
  createRobot,
  issueTicket,
  type LiveChat,
  listen,
  type Member,
  openSocket,
  post,
  startLiveChat,
  type TestClient,
  waitUntil,
} from "./helper.js";

let live: LiveChat;
let env: ChatTestEnv;
let app: FastifyInstance;
let address: string;
let relay: LiveChat["relay"];
let tenant: TenantFixture;
let alice: Member;
let bob: Member;
/** Sockets to apps other than the shared one. */
const others: TestClient[] = [];

const client = (member: Member) => live.connect(member);

async function subscribe(c: TestClient, chatgroupId: string, afterSeq?: number) {
  const before = c.frames.length;
  c.send({ type: "subscribe", chatgroupId, ...(afterSeq === undefined ? {} : { afterSeq }) });
  return c.waitFor("subscribed", (frames) =>
    frames.slice(before).find((f) => f.type === "subscribed" && f.chatgroupId === chatgroupId),
  );
}

const newChatgroup = () => createChatgroup(env.database.db, tenant);

beforeAll(async () => {
  live = await startLiveChat({ config: { CHAT_REPLAY_LIMIT: "10", CHAT_WS_FRAMES_PER_SECOND: "20" } });
  ({ env, app, address, relay, tenant } = live);
  alice = await createMember(env, tenant);
  bob = await createMember(env, tenant);
});

afterAll(async () => {
  for (const c of others) c.ws.terminate();
  await live?.stop();
});

describe("live delivery", () => {
  it("pushes every message exactly once and in order", async () => {
    const chatgroupId = await newChatgroup();
    const c = await client(alice);
    expect(await subscribe(c, chatgroupId)).toMatchObject({ lastSeq: 0 });
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => post(app, bob.token, chatgroupId, { body: `hello ${i}` })),
    );
    await c.waitFor("20 messages", () => c.seqs(chatgroupId).length >= 20);
    expect(c.seqs(chatgroupId)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const first = c.frames.find((f) => f.type === "message");
    expect(first).toMatchObject({
      type: "message",
      chatgroupId,
      message: { chatgroupId, authorId: bob.id, reactions: [] },
    });
  });

  it("replays exactly the missed messages on resume, then continues live", async () => {
    const chatgroupId = await newChatgroup();
    const first = await client(alice);
    await subscribe(first, chatgroupId);
    for (let i = 0; i < 3; i++) await post(app, bob.token, chatgroupId, { body: `a${i}` });
    await first.waitFor("3 messages", () => first.seqs(chatgroupId).length === 3);
    await first.close();
    for (let i = 0; i < 5; i++) await post(app, bob.token, chatgroupId, { body: `b${i}` });
    const second = await client(alice);
    expect(await subscribe(second, chatgroupId, 3)).toMatchObject({ lastSeq: 8 });
    await second.waitFor("replay", () => second.seqs(chatgroupId).length === 5);
    await post(app, bob.token, chatgroupId, { body: "live" });
    await second.waitFor("live", () => second.seqs(chatgroupId).length === 6);
    expect(second.seqs(chatgroupId)).toEqual([4, 5, 6, 7, 8, 9]);
    const replayed = second.frames
      .filter((f) => f.type === "message")
      .map((f) => (f.type === "message" ? f.message.body : ""));
    expect(replayed).toEqual(["b0", "b1", "b2", "b3", "b4", "live"]);
  });

  it("answers reload_required when the gap exceeds the replay limit", async () => {
    const chatgroupId = await newChatgroup();
    for (let i = 0; i < 12; i++) await post(app, bob.token, chatgroupId, { body: `m${i}` });
    const c = await client(alice);
    await subscribe(c, chatgroupId, 1);
    expect(await c.waitForFrame("reload_required")).toEqual({
      type: "reload_required",
      chatgroupId,
      lastSeq: 12,
    });
    await post(app, bob.token, chatgroupId, { body: "next" });
    await c.waitFor("live after reload", () => c.seqs(chatgroupId).length === 1);
    expect(c.seqs(chatgroupId)).toEqual([13]);
    // A cursor beyond the end (the client knows more than the database) also means reload.
    const d = await client(alice);
    await subscribe(d, chatgroupId, 99);
    expect(await d.waitForFrame("reload_required")).toMatchObject({ lastSeq: 13 });
  });

  it("fills a gap in the live stream from Postgres before going on", async () => {
    const chatgroupId = await newChatgroup();
    const c = await client(alice);
    await subscribe(c, chatgroupId);
    await relay.stop();
    const m1 = await post(app, bob.token, chatgroupId, { body: "lost on the way" });
    await post(app, bob.token, chatgroupId, { body: "arrives" });
    // The first message's event never reaches the stream: the hub sees seq 2 first.
    const deleted = await withTenant(env.database.db, tenant, (tx) =>
      tx
        .delete(schema.outbox)
        .where(sql`${schema.outbox.envelope}->'payload'->>'messageId' = ${m1.body.id}`)
        .returning({ id: schema.outbox.id }),
    );
    expect(deleted).toHaveLength(1);
    relay.start();
    await c.waitFor("both", () => c.seqs(chatgroupId).length === 2);
    expect(c.seqs(chatgroupId)).toEqual([1, 2]);
  });
});

describe("membership, revocation and shutdown", () => {
  it("ends a subscription at once when membership is removed", async () => {
    const carol = await createMember(env, tenant);
    const privateId = await createPrivateChatgroup(env.database.db, tenant, [alice.id, carol.id]);
    const c = await client(carol);
    await subscribe(c, privateId);
    await subscribe(c, tenant.chatgroupId);
    await withTenant(env.database.db, tenant, async (tx) => {
      await tx.delete(schema.chatgroupMembers).where(eq(schema.chatgroupMembers.userId, carol.id));
      await enqueueEvents(tx, [
        createEvent("membership.changed", tenant.tenantId, {
          userId: carol.id,
          scope: "chatgroup",
          scopeId: privateId,
          role: null,
        }),
      ]);
    });
    expect(await c.waitForFrame("unsubscribed")).toEqual({
      type: "unsubscribed",
      chatgroupId: privateId,
      reason: "access_revoked",
    });
    await post(app, alice.token, privateId, { body: "not for carol" });
    await post(app, alice.token, tenant.chatgroupId, { body: "for everyone" });
    await c.waitFor("team message", () => c.seqs(tenant.chatgroupId).length === 1);
    expect(c.seqs(privateId)).toEqual([]);
    // Re-subscribing is refused like any chatgroup one cannot read.
    c.send({ type: "subscribe", chatgroupId: privateId });
    expect(await c.waitForFrame("error", (f) => f.chatgroupId === privateId)).toMatchObject({
      code: "not_found",
    });
  });

  it("closes a revoked user's sockets with 4001", async () => {
    const dave = await createMember(env, tenant);
    const c = await client(dave);
    const other = await client(alice);
    env.tokens.revocations.revoke("user", dave.id);
    expect(await c.closed).toBe(4001);
    expect(other.closeCode).toBeNull();
    // A ticket issued before the revocation is refused too.
    const erin = await createMember(env, tenant);
    const ticket = await issueTicket(app, erin.token);
    env.tokens.revocations.revoke("user", erin.id);
    await expect(openSocket(address, ticket)).rejects.toMatchObject({ status: 401 });
  });

  it("closes a slow consumer with 4008 instead of buffering without bound", async () => {
    const small = await buildTestApp(env, {
      config: { CHAT_WS_MAX_BUFFERED_BYTES: "1048576", CHAT_WS_SLOW_GRACE_MS: "200" },
    });
    const smallAddress = await listen(small);
    try {
      const chatgroupId = await newChatgroup();
      const slow = await connect(small, smallAddress, alice.token);
      const fast = await connect(small, smallAddress, bob.token);
      others.push(slow, fast);
      for (const c of [slow, fast]) {
        c.send({ type: "subscribe", chatgroupId });
        await c.waitForFrame("subscribed");
      }
      // The slow client stops reading while 1 MB bursts of live frames keep coming.
      const rawSocket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      rawSocket.pause();
      const robotId = await createRobot(env.database.db, tenant, `chatty${Date.now() % 100000}`, null);
      const data = "x".repeat(100_000);
      // The server detaching the slow socket shows as a presence update without its user.
      const isSlowGone = () =>
        fast.frames.some((f) => f.type === "presence" && f.userIds.length === 1 && f.userIds[0] === bob.id);
      let sent = 0;
      for (let burst = 0; burst < 30 && !isSlowGone(); burst++) {
        await withTenant(env.database.db, tenant, (tx) =>
          enqueueEvents(
            tx,
            Array.from({ length: 10 }, (_, i) =>
              createEvent("task.progress", tenant.tenantId, {
                taskId: robotId,
                robotId,
                chatgroupId,
                seq: sent + i,
                kind: "stdout",
                data,
              }),
            ),
          ),
        );
        sent += 10;
        await fast.waitFor(
          "the burst",
          (frames) => frames.filter((f) => f.type === "task_progress").length === sent,
        );
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await fast.waitFor("the slow socket detached", isSlowGone);
      rawSocket.resume();
      expect(await slow.closed).toBe(4008);
      expect(slow.frames.filter((f) => f.type === "task_progress").length).toBeLessThan(sent);
      // The fast client is unaffected and the service stays ready.
      expect(fast.closeCode).toBeNull();
      expect((await small.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);
    } finally {
      await small.close();
    }
  });

  it("tells every socket 1012 on a graceful stop", async () => {
    const second = await buildTestApp(env);
    const secondAddress = await listen(second);
    const c = await connect(second, secondAddress, alice.token);
    await subscribe(c, tenant.chatgroupId);
    await second.close();
    expect(await c.closed).toBe(1012);
  });
});

describe("typing, presence, read markers and task frames", () => {
  it("shares typing and presence with the other subscribers", async () => {
    const chatgroupId = await newChatgroup();
    const a = await client(alice);
    const b = await client(bob);
    await subscribe(a, chatgroupId);
    await subscribe(b, chatgroupId);
    await a.waitForFrame("presence", (f) => f.chatgroupId === chatgroupId && f.userIds.length === 2);
    a.send({ type: "typing", chatgroupId });
    expect(await b.waitForFrame("typing")).toEqual({ type: "typing", chatgroupId, userId: alice.id });
    await b.close();
    await a.waitFor("bob gone", (frames) =>
      frames.findLast(
        (f) => f.type === "presence" && f.chatgroupId === chatgroupId && f.userIds.length === 1,
      ),
    );
    expect(a.frames.filter((f) => f.type === "typing")).toEqual([]);
  });

  it("moves read markers for all of the user's sockets", async () => {
    const chatgroupId = await newChatgroup();
    await post(app, bob.token, chatgroupId, { body: "one" });
    await post(app, bob.token, chatgroupId, { body: "two" });
    const tab1 = await client(alice);
    const tab2 = await client(alice);
    await subscribe(tab1, chatgroupId);
    tab1.send({ type: "read", chatgroupId, seq: 2 });
    expect(await tab2.waitForFrame("read_marker")).toEqual({ type: "read_marker", chatgroupId, seq: 2 });
    const [marker] = await withTenant(env.database.db, tenant, (tx) =>
      tx.select().from(schema.readMarkers).where(eq(schema.readMarkers.chatgroupId, chatgroupId)),
    );
    expect(marker).toMatchObject({ userId: alice.id, lastReadSeq: 2 });
  });

  it("pushes task status and progress to the chatgroup's sockets", async () => {
    const chatgroupId = await newChatgroup();
    const robotId = await createRobot(env.database.db, tenant, `bot${Date.now() % 100000}`, {
      type: "tenant",
      id: tenant.tenantId,
    });
    const c = await client(alice);
    await subscribe(c, chatgroupId);
    const taskId = crypto.randomUUID();
    await withTenant(env.database.db, tenant, (tx) =>
      enqueueEvents(tx, [
        createEvent("task.status", tenant.tenantId, {
          taskId,
          robotId,
          chatgroupId,
          messageId: null,
          status: "running",
          attempt: 1,
          error: null,
        }),
        createEvent("task.progress", tenant.tenantId, {
          taskId,
          robotId,
          chatgroupId,
          seq: 1,
          kind: "text",
          data: "thinking…",
        }),
        createEvent("task.progress", tenant.tenantId, {
          taskId,
          robotId,
          chatgroupId: null,
          seq: 2,
          kind: "text",
          data: "nowhere",
        }),
      ]),
    );
    expect(await c.waitForFrame("task_status")).toMatchObject({
      chatgroupId,
      taskId,
      robotId,
      status: "running",
      attempt: 1,
    });
    expect(await c.waitForFrame("task_progress")).toMatchObject({
      chatgroupId,
      taskId,
      seq: 1,
      kind: "text",
      data: "thinking…",
    });
  });
  it("tells a new subscription the status of unfinished tasks whose events came before it", async () => {
    // The console posts, then its socket (re)subscribes with a cursor: the mention comes back
    // from Postgres by seq, and the task's queued status, announced meanwhile, must come too.
    const chatgroupId = await newChatgroup();
    const handle = `snap${Date.now() % 100000}`;
    const robotId = await createRobot(env.database.db, tenant, handle, {
      type: "tenant",
      id: tenant.tenantId,
    });
    const taskIds: string[] = [];
    for (let round = 0; round < 8; round++) {
      const asked = await post(app, alice.token, chatgroupId, { body: `@${handle} round ${round}` });
      expect(asked.status).toBe(201);
      const taskId = crypto.randomUUID();
      taskIds.push(taskId);
      // What dispatch does: the task and its `queued` event in one transaction. The task of the
      // previous round has finished meanwhile.
      await withTenant(env.database.db, tenant, async (tx) => {
        await tx.insert(schema.tasks).values({
          tenantId: tenant.tenantId,
          id: taskId,
          robotId,
          chatgroupId,
          messageId: asked.body.id,
          prompt: `round ${round}`,
        });
        const previous = taskIds.at(-2);
        if (previous)
          await tx.update(schema.tasks).set({ status: "succeeded" }).where(eq(schema.tasks.id, previous));
        await enqueueEvents(tx, [
          createEvent("task.status", tenant.tenantId, {
            taskId,
            robotId,
            chatgroupId,
            messageId: asked.body.id,
            status: "queued",
            attempt: 0,
            error: null,
          }),
        ]);
      });
      // Published (and gone past every socket) before this one subscribes.
      await waitUntil("the outbox relayed", async () => {
        const [row] = await withTenant(env.database.db, tenant, (tx) =>
          tx.select({ n: sql<number>`count(*)::int` }).from(schema.outbox),
        );
        return row?.n === 0;
      });
      const c = await client(alice);
      await subscribe(c, chatgroupId, asked.body.seq - 1);
      const message = await c.waitForFrame("message", (f) => f.message.id === asked.body.id);
      expect(message.message.seq).toBe(asked.body.seq);
      expect(await c.waitForFrame("task_status", (f) => f.taskId === taskId)).toMatchObject({
        chatgroupId,
        taskId,
        robotId,
        messageId: asked.body.id,
        status: "queued",
        attempt: 0,
      });
      // Finished tasks are not repeated (their reply or notice is a message).
      const statuses = c.frames.flatMap((f) => (f.type === "task_status" ? [f.taskId] : []));
      expect(statuses).toEqual([taskId]);
      c.ws.terminate();
    }
  });
});
