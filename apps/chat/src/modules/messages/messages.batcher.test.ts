import type { CreateMessageBody } from "@perseus/contracts";
import { schema, withTenant } from "@perseus/db";
import { NotFoundError } from "@perseus/kit";
import { createTenant, type TenantFixture } from "@perseus/testing";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChatTestEnv, createChatTestEnv, createMember, type Member } from "../../../test/helper.js";
import type { ServiceContext } from "../../lib/context.js";
import { createPostBatcher } from "./messages.batcher.js";
import { createMessagesService } from "./messages.service.js";

let env: ChatTestEnv;
let tenant: TenantFixture;
let alice: Member;
let bob: Member;
let outsider: Member;

beforeAll(async () => {
  env = await createChatTestEnv();
  tenant = await createTenant(env.database.db);
  alice = await createMember(env, tenant);
  bob = await createMember(env, tenant);
  outsider = await createMember(env, tenant, { inTeam: false });
});

afterAll(async () => {
  await env?.cleanup();
});

const contextOf = (member: Member): ServiceContext => ({
  tenantId: tenant.tenantId,
  actor: { type: "user", userId: member.id, tenantId: tenant.tenantId, role: "user" },
});
const body = (text: string, clientKey?: string): CreateMessageBody => ({
  body: text,
  attachments: [],
  ...(clientKey ? { clientKey } : {}),
});

describe("post group commit", () => {
  it("stores queued posts in one transaction with the one-post answers, seqs and events", async () => {
    const db = env.database.db;
    const service = createMessagesService({ db, maxMessageBytes: 32_768 });
    const alone: string[] = [];
    const batcher = createPostBatcher({
      db,
      maxInFlight: 1,
      postOne: (ctx, chatgroupId, input) => {
        alone.push(input.body);
        return service.post(ctx, chatgroupId, input);
      },
    });
    const post = (member: Member, text: string, clientKey?: string) =>
      batcher.post(contextOf(member), tenant.chatgroupId, body(text, clientKey), {
        type: "user",
        id: member.id,
      });

    // The first runs alone; everything posted while it is in flight shares the next transaction.
    const settled = await Promise.allSettled([
      post(alice, "first"),
      ...Array.from({ length: 10 }, (_, i) => post(i % 2 ? alice : bob, `m${i}`)),
      post(alice, "keyed", "k-1"),
      post(alice, "keyed retry", "k-1"),
      post(outsider, "not allowed"),
      post(bob, "last"),
    ]);
    expect(alone).toEqual(["first"]);
    const [outsiderResult] = settled.splice(13, 1);
    expect(outsiderResult?.status).toBe("rejected");
    expect((outsiderResult as PromiseRejectedResult).reason).toBeInstanceOf(NotFoundError);
    const results = settled.map((result) => {
      if (result.status !== "fulfilled") throw result.reason;
      return result.value;
    });
    const [keyed, retry] = [results[11]!, results[12]!];
    expect(retry).toEqual({ message: keyed.message, isReplay: true });
    expect(keyed.isReplay).toBe(false);

    // Seqs are gap-free and follow the order of arrival; each stored message has one event.
    const stored = results
      .filter((result, i) => i !== 12 && !result.isReplay)
      .map((result) => result.message);
    expect(stored.map((message) => message.seq)).toEqual(stored.map((_, i) => i + 1));
    expect(stored.map((message) => message.body)).toEqual([
      "first",
      ...Array.from({ length: 10 }, (_, i) => `m${i}`),
      "keyed",
      "last",
    ]);
    const rows = await withTenant(db, tenant, (tx) =>
      tx
        .select({ id: schema.messages.id, seq: schema.messages.seq })
        .from(schema.messages)
        .where(eq(schema.messages.chatgroupId, tenant.chatgroupId)),
    );
    expect(rows.map((row) => row.id).sort()).toEqual(stored.map((message) => message.id).sort());
    const events = await withTenant(db, tenant, (tx) =>
      tx
        .select({ envelope: schema.outbox.envelope })
        .from(schema.outbox)
        .where(sql`${schema.outbox.envelope}->>'type' = 'message.created'`),
    );
    const eventIds = events.map(
      (row) => (row.envelope as { payload: { messageId: string } }).payload.messageId,
    );
    expect(eventIds.sort()).toEqual(stored.map((message) => message.id).sort());
  });

  it("retries each post alone when one of them fails the batch before commit", async () => {
    const db = env.database.db;
    const service = createMessagesService({ db, maxMessageBytes: 32_768 });
    const alone: string[] = [];
    const batcher = createPostBatcher({
      db,
      maxInFlight: 1,
      postOne: (ctx, chatgroupId, input) => {
        alone.push(input.body);
        return service.post(ctx, chatgroupId, input);
      },
    });
    const author = { type: "user" as const, id: alice.id };
    const settled = await Promise.allSettled([
      batcher.post(contextOf(alice), tenant.chatgroupId, body("a"), author),
      batcher.post(contextOf(alice), tenant.chatgroupId, body("b"), author),
      batcher.post(
        contextOf(alice),
        tenant.chatgroupId,
        { ...body("reply to nothing"), threadRootId: crypto.randomUUID() },
        author,
      ),
      batcher.post(contextOf(alice), tenant.chatgroupId, body("c"), author),
    ]);
    // The missing thread root aborts the shared transaction; alone, only that post fails.
    expect(alone).toEqual(["a", "b", "reply to nothing", "c"]);
    expect(settled.map((result) => result.status)).toEqual([
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
    ]);
    const seqs = settled.flatMap((result) =>
      result.status === "fulfilled" ? [result.value.message.seq] : [],
    );
    expect(seqs[1]! - seqs[0]!).toBe(1);
    expect(new Set(seqs).size).toBe(3);
  });
});
