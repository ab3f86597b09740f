import { schema, withTenant } from "@perseus/db";
import type { TenantFixture } from "@perseus/testing";
import { sql } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ChatTestEnv,
  createChatgroup,
  createMember,
  type LiveChat,
  type Member,
  post,
  startLiveChat,
} from "./helper.js";

// T16: Redis stream history lost (deleted, trimmed, flushed) → every client recovers from
// Postgres or is told to reload; never a silent gap.

let live: LiveChat;
let env: ChatTestEnv;
let app: FastifyInstance;
let relay: LiveChat["relay"];
let tenant: TenantFixture;
let alice: Member;
let bob: Member;
let streamKey: string;

beforeAll(async () => {
  live = await startLiveChat({ config: { CHAT_STREAM_BLOCK_MS: "300", CHAT_REPLAY_LIMIT: "10" } });
  ({ env, app, relay, tenant } = live);
  alice = await createMember(env, tenant);
  bob = await createMember(env, tenant);
  streamKey = `${env.redis.prefix}:events:{chat}`;
});

afterAll(async () => {
  await live?.stop();
});

const newChatgroup = () => createChatgroup(env.database.db, tenant);

async function subscribed(member: Member, chatgroupId: string, afterSeq?: number) {
  const c = await live.connect(member);
  c.send({ type: "subscribe", chatgroupId, ...(afterSeq === undefined ? {} : { afterSeq }) });
  await c.waitForFrame("subscribed");
  return c;
}

/** Posts a message whose event never reaches the stream (its outbox row is removed first). */
async function postUnannounced(chatgroupId: string, body: string) {
  await relay.stop();
  const { body: message } = await post(app, bob.token, chatgroupId, { body });
  await withTenant(env.database.db, tenant, (tx) =>
    tx.delete(schema.outbox).where(sql`${schema.outbox.envelope}->'payload'->>'messageId' = ${message.id}`),
  );
  relay.start();
  return message;
}

// Each adds an entry and deletes it in one atomic step: the hub's tail can never read it.
const lossScripts = {
  xdel: "local id = redis.call('XADD', KEYS[1], '*', 'e', 'x'); return redis.call('XDEL', KEYS[1], id)",
  trim: "redis.call('XADD', KEYS[1], '*', 'e', 'x'); return redis.call('XTRIM', KEYS[1], 'MAXLEN', 0)",
  del: "redis.call('XADD', KEYS[1], '*', 'e', 'x'); return redis.call('DEL', KEYS[1])",
} as const;

describe("T16: stream history lost", () => {
  it("replays from Postgres on resume when the history was deleted while the client was offline", async () => {
    const chatgroupId = await newChatgroup();
    const c = await subscribed(alice, chatgroupId);
    for (let i = 1; i <= 3; i++) await post(app, bob.token, chatgroupId, { body: `m${i}` });
    await c.waitFor("3", () => c.seqs(chatgroupId).length === 3);
    await c.close();
    for (let i = 4; i <= 6; i++) await post(app, bob.token, chatgroupId, { body: `m${i}` });
    await env.redis.client.del(streamKey);
    await post(app, bob.token, chatgroupId, { body: "m7" });
    const resumed = await subscribed(alice, chatgroupId, 3);
    await resumed.waitFor("replay", () => resumed.seqs(chatgroupId).length === 4);
    expect(resumed.seqs(chatgroupId)).toEqual([4, 5, 6, 7]);
    // Too far behind for a replay: told to reload, never silently skipped.
    const stale = await subscribed(alice, chatgroupId, 0);
    expect(stale.frames.some((f) => f.type === "message")).toBe(false);
    for (let i = 8; i <= 12; i++) await post(app, bob.token, chatgroupId, { body: `m${i}` });
    const farBehind = await subscribed(alice, chatgroupId, 1);
    expect(await farBehind.waitForFrame("reload_required")).toMatchObject({ chatgroupId, lastSeq: 12 });
  });

  for (const mode of Object.keys(lossScripts) as (keyof typeof lossScripts)[]) {
    it(`re-syncs live subscribers when unread entries vanish (${mode})`, async () => {
      const chatgroupId = await newChatgroup();
      const live = await subscribed(alice, chatgroupId);
      await post(app, bob.token, chatgroupId, { body: "seen" });
      await live.waitFor("first", () => live.seqs(chatgroupId).length === 1);
      await postUnannounced(chatgroupId, "never on the stream");
      await env.redis.client.eval(lossScripts[mode], 1, streamKey);
      // No later message comes to reveal the gap: only the loss detection can deliver it.
      await live.waitFor("the lost message, from Postgres", () => live.seqs(chatgroupId).length === 2, 5_000);
      await post(app, bob.token, chatgroupId, { body: "after" });
      await live.waitFor("the next", () => live.seqs(chatgroupId).length === 3);
      expect(live.seqs(chatgroupId)).toEqual([1, 2, 3]);
      const bodies = live.frames.flatMap((f) => (f.type === "message" ? [f.message.body] : []));
      expect(bodies).toEqual(["seen", "never on the stream", "after"]);
    });
  }
});
