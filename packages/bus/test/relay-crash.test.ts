import type { DomainEvent } from "@perseus/contracts";
import { schema, withTenant } from "@perseus/db";
import {
  createTenant,
  createTestDatabase,
  createTestRedis,
  type TenantFixture,
  type TestDatabase,
  type TestRedis,
} from "@perseus/testing";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createKeyspace,
  createOutboxRelay,
  createStreamConsumer,
  enqueueEvents,
  markProcessed,
} from "../src/index.js";
import { ids, killChildren, messageEvent, readStream, startChild, waitFor } from "./helpers.js";

let t: TestDatabase;
let r: TestRedis;
let counter = 0;
const nextPrefix = () => `${r.prefix}-${++counter}`;

beforeAll(async () => {
  t = await createTestDatabase();
  r = await createTestRedis();
});
afterAll(async () => {
  await killChildren();
  await r?.cleanup();
  await t?.drop();
});

async function writeEvents(tenant: TenantFixture, count: number): Promise<DomainEvent[]> {
  const events = Array.from({ length: count }, (_, i) => messageEvent(tenant, i + 1));
  // Two transactions, so the batch spans commits.
  const half = Math.ceil(count / 2);
  for (const part of [events.slice(0, half), events.slice(half)]) {
    await withTenant(t.db, { tenantId: tenant.tenantId }, (tx) => enqueueEvents(tx, part));
  }
  return events;
}

/** Flushes with a fresh relay until the stream holds `expected` entries (the killed relay's backend may linger briefly). */
async function flushUntil(prefix: string, expected: number) {
  const relay = createOutboxRelay({ pool: t.pool, redis: r.client, prefix });
  return waitFor(`${expected} entries in the stream`, async () => {
    await relay.flushOnce();
    const entries = await readStream(r.client, createKeyspace(prefix).stream("chat"));
    return entries.length >= expected && entries;
  });
}

describe("relay crash", () => {
  it("a relay killed after claiming and before publishing loses no event", async () => {
    const tenant = await createTenant(t.db);
    const prefix = nextPrefix();
    const events = await writeEvents(tenant, 20);
    const child = startChild("relay-child.ts", {
      DATABASE_URL: t.url,
      REDIS_URL: r.url,
      BUS_PREFIX: prefix,
      RELAY_HANG: "afterClaim",
    });
    expect(await child.waitForLine(/^claimed /)).toBe("claimed 20");
    // While it holds the batch, no other relay may publish (that would reorder the stream).
    const rival = createOutboxRelay({ pool: t.pool, redis: r.client, prefix });
    expect(await rival.flushOnce()).toBe(0);
    expect(await r.client.xlen(createKeyspace(prefix).stream("chat"))).toBe(0);

    await child.kill();
    const entries = await flushUntil(prefix, events.length);
    const streamed = entries.map((entry) => entry.event.id);
    expect(streamed).toHaveLength(events.length);
    expect(new Set(streamed).size).toBe(events.length);
    expect(streamed).toEqual(ids(events));
  });

  it("a relay killed after publishing and before deleting publishes twice; markProcessed applies each event once", async () => {
    const tenant = await createTenant(t.db);
    const prefix = nextPrefix();
    const events = await writeEvents(tenant, 10);
    const child = startChild("relay-child.ts", {
      DATABASE_URL: t.url,
      REDIS_URL: r.url,
      BUS_PREFIX: prefix,
      RELAY_HANG: "afterPublish",
    });
    expect(await child.waitForLine(/^published /)).toBe("published 10");
    await child.kill();

    const entries = await flushUntil(prefix, 2 * events.length);
    expect(entries).toHaveLength(2 * events.length);
    expect(new Set(entries.map((entry) => entry.event.id))).toEqual(new Set(ids(events)));

    // A consumer applying an effect (an audit row) only when markProcessed says "first time".
    const deliveries: string[] = [];
    const consumer = createStreamConsumer({
      redis: r.client,
      prefix,
      topic: "chat",
      group: "effects",
      consumer: "effects-1",
      blockMs: 100,
      handle: async (event) => {
        await withTenant(t.db, { tenantId: event.tenantId }, async (tx) => {
          const isFirst = await markProcessed(tx, {
            tenantId: event.tenantId,
            consumer: "effects",
            eventId: event.id,
          });
          if (isFirst) {
            await tx.insert(schema.auditEvents).values({
              tenantId: event.tenantId,
              actorType: "system",
              action: "test.effect",
              targetType: "event",
              targetId: event.id,
            });
          }
        });
        deliveries.push(event.id);
      },
    });
    consumer.start();
    try {
      await waitFor("every entry handled", () => deliveries.length === entries.length);
    } finally {
      await consumer.stop();
    }
    const effects = await withTenant(t.db, { tenantId: tenant.tenantId }, (tx) =>
      tx
        .select({ targetId: schema.auditEvents.targetId })
        .from(schema.auditEvents)
        .where(
          and(eq(schema.auditEvents.tenantId, tenant.tenantId), eq(schema.auditEvents.action, "test.effect")),
        ),
    );
    expect(effects.map((row) => row.targetId).sort()).toEqual(ids(events).sort());
    expect(await r.client.xpending(createKeyspace(prefix).stream("chat"), "effects")).toEqual([
      0,
      null,
      null,
      null,
    ]);
  });
});
