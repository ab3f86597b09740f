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
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeyspace, createOutboxRelay, createRedisConnection, enqueueEvents } from "../src/index.js";
import { freePort, ids, messageEvent, readStream, recordingLogger, taskEvent, waitFor } from "./helpers.js";

let t: TestDatabase;
let r: TestRedis;
let counter = 0;
/** A prefix per test, so every test sees its own streams. */
const nextPrefix = () => `${r.prefix}-${++counter}`;

beforeAll(async () => {
  t = await createTestDatabase();
  r = await createTestRedis();
});
afterAll(async () => {
  await r?.cleanup();
  await t?.drop();
});

const write = (tenant: TenantFixture, events: DomainEvent[]) =>
  withTenant(t.db, { tenantId: tenant.tenantId }, (tx) => enqueueEvents(tx, events));

const outboxRows = (tenant: TenantFixture) =>
  withTenant(t.db, { tenantId: tenant.tenantId }, (tx) => tx.select().from(schema.outbox));

describe("outbox relay", () => {
  it("publishes committed events in order and nothing from rolled-back transactions", async () => {
    const tenant = await createTenant(t.db);
    const prefix = nextPrefix();
    const keys = createKeyspace(prefix);
    const chat: DomainEvent[] = [];
    const task: DomainEvent[] = [];
    const rolledBack: DomainEvent[] = [];
    for (let i = 1; i <= 5; i++) {
      const events = [messageEvent(tenant, 2 * i - 1), taskEvent(tenant, i), messageEvent(tenant, 2 * i)];
      await write(tenant, events);
      chat.push(events[0]!, events[2]!);
      task.push(events[1]!);
      const doomed = [messageEvent(tenant, 100 + i), taskEvent(tenant, 100 + i)];
      await expect(
        withTenant(t.db, { tenantId: tenant.tenantId }, async (tx) => {
          await enqueueEvents(tx, doomed);
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      rolledBack.push(...doomed);
    }
    expect(await outboxRows(tenant)).toHaveLength(15);

    // A small batch size makes the relay go through several batches (and transactions).
    const relay = createOutboxRelay({ pool: t.pool, redis: r.client, prefix, batchSize: 4 });
    const published: number[] = [];
    for (let n = await relay.flushOnce(); n > 0; n = await relay.flushOnce()) published.push(n);
    expect(published).toEqual([4, 4, 4, 3]);

    const chatStream = await readStream(r.client, keys.stream("chat"));
    const taskStream = await readStream(r.client, keys.stream("task"));
    expect(ids(chatStream.map((entry) => entry.event))).toEqual(ids(chat));
    expect(ids(taskStream.map((entry) => entry.event))).toEqual(ids(task));
    expect(chatStream[0]?.event).toEqual(chat[0]);
    const streamed = new Set([...chatStream, ...taskStream].map((entry) => entry.event.id));
    expect(rolledBack.filter((event) => streamed.has(event.id))).toEqual([]);
    expect(await outboxRows(tenant)).toEqual([]);
  });

  it("wakes on NOTIFY instead of waiting for the poll interval", async () => {
    const tenant = await createTenant(t.db);
    const prefix = nextPrefix();
    const relay = createOutboxRelay({ pool: t.pool, redis: r.client, prefix, pollIntervalMs: 60_000 });
    relay.start();
    try {
      // Wait for the LISTEN connection, so the first poll cannot be what delivers the event.
      await waitFor("the relay to LISTEN", async () => {
        const { rows } = await t.pool.query(
          "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN perseus_outbox'",
        );
        return rows.length === 1;
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const event = messageEvent(tenant, 1);
      const started = Date.now();
      await write(tenant, [event]);
      const stream = await waitFor("the event in the stream", async () => {
        const entries = await readStream(r.client, createKeyspace(prefix).stream("chat"));
        return entries.length > 0 && entries;
      });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(ids(stream.map((entry) => entry.event))).toEqual([event.id]);
    } finally {
      await relay.stop();
    }
  });

  it("keeps events and keeps running while Redis is unreachable; they are published once it is back", async () => {
    const tenant = await createTenant(t.db);
    const prefix = nextPrefix();
    const deadRedis = createRedisConnection(`redis://127.0.0.1:${await freePort()}`, "command", {
      log: recordingLogger().log,
      commandTimeoutMs: 500,
    });
    const { log, records } = recordingLogger();
    const relay = createOutboxRelay({ pool: t.pool, redis: deadRedis, prefix, log, pollIntervalMs: 100 });
    const events = [messageEvent(tenant, 1), messageEvent(tenant, 2), messageEvent(tenant, 3)];
    try {
      relay.start();
      await write(tenant, events);
      await waitFor(
        "two failed batches",
        () => records.filter((x) => x.level === "error").length >= 2,
        15_000,
      );
      expect(records[0]).toMatchObject({ message: "outbox relay batch failed" });
      expect(await outboxRows(tenant)).toHaveLength(3);
    } finally {
      await relay.stop();
      deadRedis.disconnect();
    }
    const healthy = createOutboxRelay({ pool: t.pool, redis: r.client, prefix });
    expect(await healthy.flushOnce()).toBe(3);
    const stream = await readStream(r.client, createKeyspace(prefix).stream("chat"));
    expect(ids(stream.map((entry) => entry.event))).toEqual(ids(events));
  });

  it("survives its Postgres connection being killed mid-batch: logs, retries, loses nothing", async () => {
    const tenant = await createTenant(t.db);
    const prefix = nextPrefix();
    const events = [messageEvent(tenant, 1), messageEvent(tenant, 2)];
    await write(tenant, events);
    const admin = new pg.Client({ connectionString: t.adminUrl });
    await admin.connect();
    const { log, records } = recordingLogger();
    let kills = 0;
    const relay = createOutboxRelay({
      pool: t.pool,
      redis: r.client,
      prefix,
      log,
      pollIntervalMs: 100,
      hooks: {
        // The first batch loses its backend after publishing, before it can delete and commit.
        afterPublish: async () => {
          if (kills++ > 0) return;
          await admin.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND query LIKE '%outbox_claim%' AND pid <> pg_backend_pid()`,
          );
          await new Promise((resolve) => setTimeout(resolve, 100)); // let the socket error arrive
        },
      },
    });
    try {
      relay.start();
      await waitFor("the outbox to drain", async () => (await outboxRows(tenant)).length === 0);
    } finally {
      await relay.stop();
      await admin.end();
    }
    expect(records.filter((x) => x.level === "error").map((x) => x.message)).toContain(
      "outbox relay batch failed",
    );
    const stream = await readStream(r.client, createKeyspace(prefix).stream("chat"));
    // Published twice (at-least-once), none lost.
    expect(ids(stream.map((entry) => entry.event))).toEqual([...ids(events), ...ids(events)]);
  });
});
