import { schema, withTenant } from "@perseus/db";
import { createTenant, scrapeMetrics, type TenantFixture } from "@perseus/testing";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPLIES_GROUP } from "../src/modules/replies/replies.consumer.js";
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
} from "./helper.js";

// Scrape-time readings are cached for a few seconds: poll with room for that and a busy machine.
const POLL = { timeout: 30_000, interval: 250 };

let env: ChatTestEnv;
let app: FastifyInstance;
let address: string;
let tenant: TenantFixture;
let alice: Member;

beforeAll(async () => {
  env = await createChatTestEnv();
  app = await buildTestApp(env);
  address = await listen(app);
  tenant = await createTenant(env.database.db);
  alice = await createMember(env, tenant);
});
afterAll(async () => {
  await app?.close();
  await env?.cleanup();
});

const metricValue = async (name: string, labels?: Record<string, string>) =>
  (await scrapeMetrics(app)).value(name, labels);

describe("chat metrics", () => {
  it("counts open realtime sockets and their subscriptions", async () => {
    expect(await metricValue("perseus_chat_realtime_connections")).toBe(0);
    const client = await connect(app, address, alice.token);
    await expect.poll(() => metricValue("perseus_chat_realtime_connections"), POLL).toBe(1);

    client.send({ type: "subscribe", chatgroupId: tenant.chatgroupId });
    await client.waitFor("subscribed", (frames) => frames.find((frame) => frame.type === "subscribed"));
    expect(await metricValue("perseus_chat_realtime_subscriptions")).toBe(1);

    await client.close();
    await expect.poll(() => metricValue("perseus_chat_realtime_connections"), POLL).toBe(0);
    expect(await metricValue("perseus_chat_realtime_subscriptions")).toBe(0);
  });

  it("reports the outbox backlog while no relay runs, and its draining once one does", async () => {
    for (const n of [1, 2, 3]) {
      const posted = await post(app, alice.token, tenant.chatgroupId, { body: `backlog ${n}` });
      expect(posted.status).toBe(201);
    }
    const rows = await withTenant(env.database.db, tenant, async (tx) =>
      (await tx.select({ topic: schema.outbox.topic }).from(schema.outbox)).filter(
        (row) => row.topic === "chat",
      ),
    );
    expect(rows.length).toBeGreaterThanOrEqual(3);
    await expect.poll(() => metricValue("perseus_outbox_backlog", { topic: "chat" }), POLL).toBe(rows.length);
    expect(await metricValue("perseus_outbox_oldest_age_seconds", { topic: "chat" })).toBeGreaterThanOrEqual(
      0,
    );

    const relay = startRelay(env);
    try {
      await expect.poll(() => metricValue("perseus_outbox_backlog", { topic: "chat" }), POLL).toBe(0);
      expect(await metricValue("perseus_outbox_oldest_age_seconds", { topic: "chat" })).toBe(0);
    } finally {
      await relay.close();
    }
  });

  it("reports the replies consumer's lag and counts what it dead-letters", async () => {
    const { client, prefix } = env.redis;
    const labels = { stream: "task", group: REPLIES_GROUP };
    await expect.poll(() => metricValue("perseus_stream_consumer_lag", labels), POLL).toBe(0);
    expect(await metricValue("perseus_stream_dead_lettered_total", labels)).toBeUndefined();

    await client.xadd(`${prefix}:events:{task}`, "*", "e", "{not json");
    await expect.poll(() => metricValue("perseus_stream_dead_lettered_total", labels), POLL).toBe(1);
    await expect.poll(() => metricValue("perseus_stream_dead_letters", { stream: "task" }), POLL).toBe(1);
    await expect.poll(() => metricValue("perseus_stream_consumer_pending", labels), POLL).toBe(0);
  });
});
