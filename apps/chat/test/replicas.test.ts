import { createTenant, type TenantFixture } from "@perseus/testing";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildTestApp,
  type ChatTestEnv,
  connect,
  createChatTestEnv,
  createMember,
  listen,
  type Member,
  post,
  startRelay,
  type TestClient,
} from "./helper.js";

let env: ChatTestEnv;
let replicaA: FastifyInstance;
let replicaB: FastifyInstance;
let addressA: string;
let addressB: string;
let relay: ReturnType<typeof startRelay>;
let tenant: TenantFixture;
let members: Member[];
const clients: TestClient[] = [];

beforeAll(async () => {
  env = await createChatTestEnv({ poolSize: 12 });
  replicaA = await buildTestApp(env, { instanceId: "chat-a" });
  replicaB = await buildTestApp(env, { instanceId: "chat-b" });
  addressA = await listen(replicaA);
  addressB = await listen(replicaB);
  relay = startRelay(env);
  tenant = await createTenant(env.database.db);
  members = await Promise.all(Array.from({ length: 4 }, () => createMember(env, tenant)));
});

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await relay?.close();
  await replicaA?.close();
  await replicaB?.close();
  await env?.cleanup();
});

describe("two replicas, one database, one Redis", () => {
  it("shows every message to clients on both replicas exactly once and in order", async () => {
    const { chatgroupId } = tenant;
    for (const [i, member] of members.entries()) {
      const onA = i % 2 === 0;
      const c = await connect(onA ? replicaA : replicaB, onA ? addressA : addressB, member.token);
      c.send({ type: "subscribe", chatgroupId });
      await c.waitForFrame("subscribed");
      clients.push(c);
    }
    // Concurrent posts through both replicas.
    const total = 40;
    await Promise.all(
      Array.from({ length: total }, (_, i) => {
        const replica = i % 2 === 0 ? replicaA : replicaB;
        const author = members[i % members.length] as Member;
        return post(replica, author.token, chatgroupId, { body: `m${i}` });
      }),
    );
    const expected = Array.from({ length: total }, (_, i) => i + 1);
    for (const c of clients) {
      await c.waitFor(`${total} messages`, () => c.seqs(chatgroupId).length >= total, 10_000);
    }
    // Let any straggling duplicate arrive before judging.
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const c of clients) expect(c.seqs(chatgroupId)).toEqual(expected);
  });

  it("keeps presence across replicas", async () => {
    const [a, b] = clients as [TestClient, TestClient];
    const presence = await a.waitForFrame("presence", (f) => f.userIds.length === members.length);
    expect(new Set(presence.userIds)).toEqual(new Set(members.map((m) => m.id)));
    b.send({ type: "typing", chatgroupId: tenant.chatgroupId });
    expect(await a.waitForFrame("typing")).toMatchObject({ userId: members[1]?.id });
  });
});
