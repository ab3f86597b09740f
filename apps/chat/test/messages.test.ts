import { schema, withTenant } from "@perseus/db";
import { createTenant, type TenantFixture } from "@perseus/testing";
import { eq, sql } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  buildTestApp,
  type ChatTestEnv,
  createChatgroup,
  createChatTestEnv,
  createMember,
  createRobot,
  type Member,
  ownerOf,
  PREFIX,
  post,
} from "./helper.js";

let env: ChatTestEnv;
let app: FastifyInstance;
let tenant: TenantFixture;
let owner: Member;
let alice: Member;
let bob: Member;

beforeAll(async () => {
  env = await createChatTestEnv({ poolSize: 12 });
  app = await buildTestApp(env);
  await app.ready();
  tenant = await createTenant(env.database.db);
  owner = await ownerOf(env, tenant);
  alice = await createMember(env, tenant);
  bob = await createMember(env, tenant);
});

afterAll(async () => {
  await app?.close();
  await env?.cleanup();
});

async function outboxEvents(type: string) {
  return withTenant(env.database.db, tenant, (tx) =>
    tx.select().from(schema.outbox).where(sql`${schema.outbox.envelope}->>'type' = ${type}`),
  );
}

const newChatgroup = () => createChatgroup(env.database.db, tenant);

describe("posting", () => {
  it("assigns gap-free seqs to 50 concurrent posts", async () => {
    const chatgroupId = await newChatgroup();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        post(app, i % 2 ? alice.token : bob.token, chatgroupId, { body: `m${i}` }),
      ),
    );
    expect(results.every((r) => r.status === 201)).toBe(true);
    const seqs = results.map((r) => r.body.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    const rows = await withTenant(env.database.db, tenant, (tx) =>
      tx
        .select({ seq: schema.messages.seq })
        .from(schema.messages)
        .where(eq(schema.messages.chatgroupId, chatgroupId)),
    );
    expect(rows.map((r) => r.seq).sort((a, b) => a - b)).toEqual(seqs);
    const events = (await outboxEvents("message.created")).filter(
      (row) => (row.envelope as { payload: { chatgroupId: string } }).payload.chatgroupId === chatgroupId,
    );
    expect(events).toHaveLength(50);
  });

  it("returns the first message for a retried clientKey, even when retries race", async () => {
    const chatgroupId = await newChatgroup();
    const first = await post(app, alice.token, chatgroupId, { body: "once", clientKey: "k-1" });
    expect(first.status).toBe(201);
    const retry = await post(app, alice.token, chatgroupId, { body: "once (retry)", clientKey: "k-1" });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);

    const racing = await Promise.all(
      Array.from({ length: 8 }, () =>
        post(app, alice.token, chatgroupId, { body: "race", clientKey: "k-2" }),
      ),
    );
    expect(new Set(racing.map((r) => r.body.id)).size).toBe(1);
    expect(racing.filter((r) => r.status === 201)).toHaveLength(1);
    // The same key from another author is another message; seqs stay gap-free.
    const other = await post(app, bob.token, chatgroupId, { body: "race", clientKey: "k-2" });
    expect(other.status).toBe(201);
    expect(other.body.seq).toBe(3);
  });

  it("honours an Idempotency-Key header as the clientKey, also for racing retries", async () => {
    const chatgroupId = await newChatgroup();
    const key = { "idempotency-key": "hdr-1" };
    const first = await post(app, alice.token, chatgroupId, { body: "keyed by header" }, key);
    expect(first.status).toBe(201);
    const retry = await post(app, alice.token, chatgroupId, { body: "keyed by header (retry)" }, key);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    // The header and the body key are one key.
    const viaBody = await post(app, alice.token, chatgroupId, { body: "same key", clientKey: "hdr-1" });
    expect(viaBody.status).toBe(200);
    expect(viaBody.body.id).toBe(first.body.id);

    const racing = await Promise.all(
      Array.from({ length: 8 }, () =>
        post(app, alice.token, chatgroupId, { body: "race" }, { "idempotency-key": "hdr-2" }),
      ),
    );
    expect(new Set(racing.map((r) => r.body.id)).size).toBe(1);
    expect(racing.filter((r) => r.status === 201)).toHaveLength(1);
    expect(racing.filter((r) => r.status === 200)).toHaveLength(7);

    // Disagreeing keys, or a malformed one, are refused and store nothing.
    const disagree = await post(
      app,
      alice.token,
      chatgroupId,
      { body: "x", clientKey: "a" },
      { "idempotency-key": "b" },
    );
    expect(disagree.status).toBe(400);
    expect(disagree.body).toMatchObject({ code: "validation_failed" });
    const malformed = await post(
      app,
      alice.token,
      chatgroupId,
      { body: "x" },
      { "idempotency-key": "has space" },
    );
    expect(malformed.status).toBe(400);
    const rows = await withTenant(env.database.db, tenant, (tx) =>
      tx
        .select({ seq: schema.messages.seq })
        .from(schema.messages)
        .where(eq(schema.messages.chatgroupId, chatgroupId)),
    );
    expect(rows.map((row) => row.seq).sort()).toEqual([1, 2]);
  });

  it("keeps a keyed thread reply single when retries race, across two replicas and through group commit", async () => {
    const chatgroupId = await newChatgroup();
    const root = await post(app, alice.token, chatgroupId, { body: "thread root" });
    const other = await buildTestApp(env);
    try {
      await other.ready();
      // Enough concurrent posts that both replicas batch them (group commit), with retries of
      // one keyed reply spread over both.
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => {
          const replica = i % 2 ? other : app;
          return i % 4 === 0
            ? post(replica, alice.token, chatgroupId, {
                body: "the reply",
                threadRootId: root.body.id,
                clientKey: "reply-1",
              })
            : post(replica, bob.token, chatgroupId, { body: `filler ${i}` });
        }),
      );
      const keyed = results.filter((_, i) => i % 4 === 0);
      expect(new Set(keyed.map((r) => r.body.id)).size).toBe(1);
      expect(keyed.filter((r) => r.status === 201)).toHaveLength(1);
      expect(keyed.every((r) => (r.body as { threadRootId?: string }).threadRootId === root.body.id)).toBe(
        true,
      );
      const rows = await withTenant(env.database.db, tenant, (tx) =>
        tx
          .select({ seq: schema.messages.seq })
          .from(schema.messages)
          .where(eq(schema.messages.chatgroupId, chatgroupId)),
      );
      // The root, one reply and 30 fillers, with gap-free seqs.
      expect(rows.map((row) => row.seq).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 32 }, (_, i) => i + 1),
      );
    } finally {
      await other.close();
    }
  });

  it("resolves mentions of members and of robots invocable in the chatgroup only", async () => {
    const chatgroupId = await newChatgroup();
    const otherChatgroup = await newChatgroup();
    const jane = await createRobot(env.database.db, tenant, "jane", { type: "team", id: tenant.teamId });
    await createRobot(env.database.db, tenant, "elsewhere", { type: "chatgroup", id: otherChatgroup });
    await createRobot(env.database.db, tenant, "unscoped", null);
    const body = `@jane and @elsewhere and @unscoped, ask @${bob.handle}; not \`@${alice.handle}\` nor @nobody`;
    const { status, body: message } = await post(app, alice.token, chatgroupId, {
      body,
      attachments: [{ layer: "chatgroup", path: "docs/spec.md" }],
    });
    expect(status).toBe(201);
    expect(message.mentions).toEqual({ users: [bob.id], robots: [{ robotId: jane, handle: "jane" }] });
    expect(message.attachments).toEqual([{ layer: "chatgroup", path: "docs/spec.md" }]);

    const [event] = (await outboxEvents("message.created")).filter(
      (row) => (row.envelope as { payload: { messageId: string } }).payload.messageId === message.id,
    );
    expect(event?.topic).toBe("chat");
    expect(event?.envelope).toMatchObject({
      type: "message.created",
      tenantId: tenant.tenantId,
      payload: {
        messageId: message.id,
        chatgroupId,
        teamId: tenant.teamId,
        seq: 1,
        authorType: "user",
        authorId: alice.id,
        mentions: { users: [bob.id], robots: [{ robotId: jane, handle: "jane" }] },
        attachments: [{ layer: "chatgroup", path: "docs/spec.md" }],
      },
    });
  });

  it("puts replies in the root's thread", async () => {
    const chatgroupId = await newChatgroup();
    const root = await post(app, alice.token, chatgroupId, { body: "root" });
    const reply = await post(app, bob.token, chatgroupId, { body: "reply", threadRootId: root.body.id });
    const nested = await post(app, alice.token, chatgroupId, { body: "nested", threadRootId: reply.body.id });
    expect(reply.body.threadRootId).toBe(root.body.id);
    expect(nested.body.threadRootId).toBe(root.body.id);
    const elsewhere = await newChatgroup();
    const foreign = await post(app, alice.token, elsewhere, { body: "x", threadRootId: root.body.id });
    expect(foreign.status).toBe(404);
  });

  it("refuses bad input with 4xx problems and stores nothing", async () => {
    const chatgroupId = await newChatgroup();
    const cases: [Record<string, unknown>, number][] = [
      [{ body: "   " }, 400],
      [{}, 400],
      [{ body: "x".repeat(40_000) }, 400],
      [{ body: "é".repeat(20_000) }, 413],
      [{ body: "x", attachments: [{ layer: "chatgroup", path: "../etc/passwd" }] }, 400],
      [{ body: "x", attachments: [{ layer: "chatgroup", path: "/abs" }] }, 400],
      [{ body: "x", attachments: [{ layer: "disk", path: "a" }] }, 400],
      [{ body: "x", clientKey: "task:123" }, 400],
      [{ body: "x", clientKey: "has space" }, 400],
      [{ body: "x", threadRootId: "not-a-uuid" }, 400],
      [{ body: 42 }, 400],
    ];
    for (const [payload, status] of cases) {
      const response = await post(app, alice.token, chatgroupId, payload);
      expect(response.status, JSON.stringify(payload).slice(0, 80)).toBe(status);
      expect(response.body).toMatchObject({ status });
    }
    const junk = await app.inject({
      method: "POST",
      url: `${PREFIX}/chatgroups/${chatgroupId}/messages`,
      headers: { ...bearer(alice.token), "content-type": "application/json" },
      payload: "{not json",
    });
    expect(junk.statusCode).toBe(400);
    const count = await withTenant(env.database.db, tenant, (tx) =>
      tx
        .select({ n: sql<number>`count(*)::int` })
        .from(schema.messages)
        .where(eq(schema.messages.chatgroupId, chatgroupId)),
    );
    expect(count[0]?.n).toBe(0);
  });

  it("answers 404 for archived chatgroups on post but still serves their history", async () => {
    const chatgroupId = await newChatgroup();
    await post(app, alice.token, chatgroupId, { body: "before archiving" });
    await withTenant(env.database.db, tenant, (tx) =>
      tx
        .update(schema.chatgroups)
        .set({ archivedAt: new Date() })
        .where(eq(schema.chatgroups.id, chatgroupId)),
    );
    expect((await post(app, alice.token, chatgroupId, { body: "after" })).status).toBe(404);
    const history = await app.inject({
      method: "GET",
      url: `${PREFIX}/chatgroups/${chatgroupId}/messages`,
      headers: bearer(alice.token),
    });
    expect(history.statusCode).toBe(200);
    expect(history.json().items).toHaveLength(1);
  });
});

describe("edits, deletes and reactions", () => {
  it("lets the author edit, keeps the history and emits message.changed", async () => {
    const chatgroupId = await newChatgroup();
    const { body: message } = await post(app, alice.token, chatgroupId, { body: "first" });
    const edit = (token: string, body: string) =>
      app.inject({
        method: "PATCH",
        url: `${PREFIX}/messages/${message.id}`,
        headers: bearer(token),
        payload: { body },
      });
    expect((await edit(bob.token, "hijack")).statusCode).toBe(403);
    expect((await edit(alice.token, "")).statusCode).toBe(400);
    const second = await edit(alice.token, `second @${bob.handle}`);
    expect(second.statusCode).toBe(200);
    expect(second.json()).toMatchObject({
      body: `second @${bob.handle}`,
      seq: 1,
      mentions: { users: [bob.id] },
    });
    expect(second.json().editedAt).not.toBeNull();
    await edit(alice.token, "third");
    const edits = await app.inject({
      method: "GET",
      url: `${PREFIX}/messages/${message.id}/edits`,
      headers: bearer(bob.token),
    });
    expect(edits.json().items.map((e: { version: number; body: string }) => [e.version, e.body])).toEqual([
      [1, "first"],
      [2, `second @${bob.handle}`],
    ]);
    const changed = (await outboxEvents("message.changed")).filter(
      (row) => (row.envelope as { payload: { messageId: string } }).payload.messageId === message.id,
    );
    expect(changed).toHaveLength(2);
    expect(changed[1]?.envelope).toMatchObject({ payload: { change: "edited", message: { body: "third" } } });
  });

  it("deletes as author or tenant admin/owner only, leaving a tombstone", async () => {
    const chatgroupId = await newChatgroup();
    const admin = await createMember(env, tenant, { role: "admin" });
    const { body: m1 } = await post(app, alice.token, chatgroupId, {
      body: "secret",
      attachments: [{ layer: "team", path: "a.txt" }],
    });
    const { body: m2 } = await post(app, alice.token, chatgroupId, { body: "mine" });
    const remove = (token: string, id: string) =>
      app.inject({ method: "DELETE", url: `${PREFIX}/messages/${id}`, headers: bearer(token) });
    expect((await remove(bob.token, m1.id)).statusCode).toBe(403);
    const byAdmin = await remove(admin.token, m1.id);
    expect(byAdmin.statusCode).toBe(200);
    expect(byAdmin.json()).toMatchObject({
      id: m1.id,
      seq: 1,
      body: "",
      attachments: [],
      mentions: { users: [], robots: [] },
    });
    expect(byAdmin.json().deletedAt).not.toBeNull();
    expect((await remove(alice.token, m2.id)).statusCode).toBe(200);
    expect((await remove(owner.token, m2.id)).statusCode).toBe(200); // already a tombstone: no-op
    const audit = await withTenant(env.database.db, tenant, (tx) =>
      tx.select().from(schema.auditEvents).where(eq(schema.auditEvents.action, "message.deleted")),
    );
    expect(audit.filter((row) => row.targetId === m1.id || row.targetId === m2.id)).toHaveLength(2);
    const edit = await app.inject({
      method: "PATCH",
      url: `${PREFIX}/messages/${m2.id}`,
      headers: bearer(alice.token),
      payload: { body: "again" },
    });
    expect(edit.statusCode).toBe(409);
  });

  it("adds and removes reactions, each change once", async () => {
    const chatgroupId = await newChatgroup();
    const { body: message } = await post(app, alice.token, chatgroupId, { body: "react to me" });
    const react = (method: "PUT" | "DELETE", token: string, emoji: string) =>
      app.inject({
        method,
        url: `${PREFIX}/messages/${message.id}/reactions/${encodeURIComponent(emoji)}`,
        headers: bearer(token),
      });
    await react("PUT", alice.token, "👍");
    await react("PUT", bob.token, "👍");
    const again = await react("PUT", bob.token, "👍");
    expect(again.json().reactions).toEqual([{ emoji: "👍", count: 2, userIds: [alice.id, bob.id] }]);
    const removed = await react("DELETE", alice.token, "👍");
    expect(removed.json().reactions).toEqual([{ emoji: "👍", count: 1, userIds: [bob.id] }]);
    expect((await react("PUT", bob.token, "a b")).statusCode).toBe(400);
    const changes = (await outboxEvents("message.changed")).filter(
      (row) => (row.envelope as { payload: { messageId: string } }).payload.messageId === message.id,
    );
    expect(changes).toHaveLength(3); // two adds and one removal; the repeated add changed nothing
  });
});
