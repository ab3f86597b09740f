import { schema, withTenant } from "@perseus/db";
import { createTenant, type TenantFixture } from "@perseus/testing";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  buildTestApp,
  type ChatTestEnv,
  createChatTestEnv,
  createMember,
  createPrivateChatgroup,
  type Member,
  PREFIX,
  post,
} from "./helper.js";

let env: ChatTestEnv;
let app: FastifyInstance;
let tenant: TenantFixture;
let alice: Member;
let bob: Member;
const ids: string[] = [];
let privateId = "";

type Page = {
  items: { seq: number; id: string; body: string }[];
  hasMoreBefore: boolean;
  hasMoreAfter: boolean;
  lastSeq: number;
};

async function page(query: string, token = alice.token, chatgroupId = tenant.chatgroupId): Promise<Page> {
  const response = await app.inject({
    method: "GET",
    url: `${PREFIX}/chatgroups/${chatgroupId}/messages${query}`,
    headers: bearer(token),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as Page;
}

const seqsOf = (p: Page) => p.items.map((item) => item.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

beforeAll(async () => {
  env = await createChatTestEnv();
  app = await buildTestApp(env);
  await app.ready();
  tenant = await createTenant(env.database.db);
  alice = await createMember(env, tenant);
  bob = await createMember(env, tenant);
  for (let i = 1; i <= 30; i++) {
    const words = i % 10 === 0 ? `deploy the rocket number ${i}` : `chatter ${i}`;
    const { body } = await post(app, i % 3 === 0 ? bob.token : alice.token, tenant.chatgroupId, {
      body: words,
    });
    ids.push(body.id);
  }
});

afterAll(async () => {
  await app?.close();
  await env?.cleanup();
});

describe("history pages by seq", () => {
  it("serves the latest page, then pages backwards and forwards", async () => {
    const latest = await page("?limit=10");
    expect(seqsOf(latest)).toEqual(range(21, 30));
    expect(latest).toMatchObject({ hasMoreBefore: true, hasMoreAfter: false, lastSeq: 30 });
    const before = await page("?limit=10&before=21");
    expect(seqsOf(before)).toEqual(range(11, 20));
    expect(before).toMatchObject({ hasMoreBefore: true, hasMoreAfter: true });
    const first = await page("?limit=10&before=11");
    expect(seqsOf(first)).toEqual(range(1, 10));
    expect(first.hasMoreBefore).toBe(false);
    const after = await page("?limit=7&after=25");
    expect(seqsOf(after)).toEqual(range(26, 30));
    expect(after).toMatchObject({ hasMoreBefore: true, hasMoreAfter: false });
    const fromStart = await page("?limit=5&after=0");
    expect(seqsOf(fromStart)).toEqual(range(1, 5));
    expect(fromStart).toMatchObject({ hasMoreBefore: false, hasMoreAfter: true });
  });

  it("centres a page on a message for jump-to", async () => {
    const around = await page(`?limit=6&around=${ids[14]}`);
    expect(seqsOf(around)).toEqual(range(12, 17));
    expect(around.items[3]?.id).toBe(ids[14]);
    expect(around).toMatchObject({ hasMoreBefore: true, hasMoreAfter: true });
  });

  it("refuses contradictory or malformed positions, and unknown messages", async () => {
    for (const query of ["?before=3&after=1", "?limit=0", "?limit=500", "?before=abc", "?around=nope"]) {
      const response = await app.inject({
        method: "GET",
        url: `${PREFIX}/chatgroups/${tenant.chatgroupId}/messages${query}`,
        headers: bearer(alice.token),
      });
      expect(response.statusCode, query).toBe(400);
    }
    const unknown = await app.inject({
      method: "GET",
      url: `${PREFIX}/chatgroups/${tenant.chatgroupId}/messages?around=${crypto.randomUUID()}`,
      headers: bearer(alice.token),
    });
    expect(unknown.statusCode).toBe(404);
  });

  it("lists a thread's replies", async () => {
    const root = ids[0] as string;
    await post(app, bob.token, tenant.chatgroupId, { body: "reply one", threadRootId: root });
    await post(app, alice.token, tenant.chatgroupId, { body: "reply two", threadRootId: root });
    const thread = await page(`?threadRootId=${root}`);
    expect(thread.items.map((m) => m.body)).toEqual(["reply one", "reply two"]);
  });
});

describe("search", () => {
  it("finds words over readable chatgroups, newest first, with a cursor", async () => {
    const search = async (query: string, token = alice.token) => {
      const response = await app.inject({
        method: "GET",
        url: `${PREFIX}/search?${query}`,
        headers: bearer(token),
      });
      expect(response.statusCode, response.body).toBe(200);
      return response.json() as { items: { body: string; seq: number }[]; nextCursor: string | null };
    };
    const first = await search("q=rocket&limit=2");
    expect(first.items.map((m) => m.seq)).toEqual([30, 20]);
    expect(first.nextCursor).not.toBeNull();
    const second = await search(`q=rocket&limit=2&cursor=${first.nextCursor}`);
    expect(second.items.map((m) => m.seq)).toEqual([10]);
    expect(second.nextCursor).toBeNull();
    expect((await search('q="deploy the rocket" -number')).items).toEqual([]);
    expect((await search("q=deploy rocket 20")).items.map((m) => m.seq)).toEqual([20]);
    // Operators and junk never turn into a 500.
    expect((await search("q=%26%7C!(:*")).items).toEqual([]);

    const bad = await app.inject({
      method: "GET",
      url: `${PREFIX}/search?q=x&cursor=garbage`,
      headers: bearer(alice.token),
    });
    expect(bad.statusCode).toBe(400);
  });

  it("leaves out deleted messages and chatgroups the user may not read", async () => {
    privateId = await createPrivateChatgroup(env.database.db, tenant, [bob.id]);
    await post(app, bob.token, privateId, { body: "classified rocket plans" });
    const { body: doomed } = await post(app, alice.token, tenant.chatgroupId, {
      body: "rocket to be deleted",
    });
    await app.inject({
      method: "DELETE",
      url: `${PREFIX}/messages/${doomed.id}`,
      headers: bearer(alice.token),
    });
    const asAlice = await app.inject({
      method: "GET",
      url: `${PREFIX}/search?q=rocket&limit=50`,
      headers: bearer(alice.token),
    });
    const bodies = (asAlice.json() as { items: { body: string }[] }).items.map((m) => m.body);
    expect(bodies).not.toContain("classified rocket plans");
    expect(bodies).not.toContain("rocket to be deleted");
    const asBob = await app.inject({
      method: "GET",
      url: `${PREFIX}/search?q=classified`,
      headers: bearer(bob.token),
    });
    expect(asBob.json().items).toHaveLength(1);
    const scoped = await app.inject({
      method: "GET",
      url: `${PREFIX}/search?q=classified&chatgroupId=${privateId}`,
      headers: bearer(alice.token),
    });
    expect(scoped.statusCode).toBe(404);
  });
});

describe("read markers and unread counts", () => {
  it("counts others' undeleted messages after the marker, per readable chatgroup", async () => {
    const list = async (token: string) => {
      const response = await app.inject({
        method: "GET",
        url: `${PREFIX}/chatgroups`,
        headers: bearer(token),
      });
      expect(response.statusCode).toBe(200);
      return response.json().items as {
        chatgroupId: string;
        lastSeq: number;
        lastReadSeq: number;
        unreadCount: number;
      }[];
    };
    const before = (await list(bob.token)).find((c) => c.chatgroupId === tenant.chatgroupId);
    const lastSeq = before?.lastSeq ?? 0;
    const all = (await page(`?limit=200`, bob.token)).items as unknown as {
      authorId: string;
      deletedAt: string | null;
    }[];
    const othersUndeleted = all.filter((m) => m.authorId !== bob.id && m.deletedAt === null).length;
    expect(before).toMatchObject({ lastReadSeq: 0, unreadCount: othersUndeleted });
    expect(othersUndeleted).toBeLessThan(all.length);

    const mark = async (seq: number) => {
      const response = await app.inject({
        method: "PUT",
        url: `${PREFIX}/chatgroups/${tenant.chatgroupId}/read`,
        headers: bearer(bob.token),
        payload: { seq },
      });
      expect(response.statusCode).toBe(200);
      return response.json() as { lastReadSeq: number; unreadCount: number };
    };
    expect(await mark(lastSeq - 2)).toEqual({
      chatgroupId: tenant.chatgroupId,
      lastReadSeq: lastSeq - 2,
      unreadCount: expect.any(Number),
    });
    // Markers only move forward, and never past the end.
    expect((await mark(1)).lastReadSeq).toBe(lastSeq - 2);
    expect(await mark(lastSeq + 100)).toMatchObject({ lastReadSeq: lastSeq, unreadCount: 0 });
    await post(app, alice.token, tenant.chatgroupId, { body: "new one" });
    await post(app, bob.token, tenant.chatgroupId, { body: "my own" });
    const after = (await list(bob.token)).find((c) => c.chatgroupId === tenant.chatgroupId);
    expect(after).toMatchObject({ lastSeq: lastSeq + 2, lastReadSeq: lastSeq, unreadCount: 1 });
    // Private chatgroups appear only for their members.
    expect((await list(alice.token)).map((c) => c.chatgroupId)).not.toContain(privateId);
    expect((await list(bob.token)).find((c) => c.chatgroupId === privateId)).toMatchObject({
      lastSeq: 1,
      unreadCount: 0,
    });
    const stored = await withTenant(env.database.db, tenant, (tx) => tx.select().from(schema.readMarkers));
    expect(stored.filter((row) => row.userId === bob.id)).toHaveLength(1);
  });
});
