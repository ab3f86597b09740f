import type { DomainEvent } from "@perseus/contracts";
import { createTestRedis, type TestRedis } from "@perseus/testing";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createKeyspace,
  createStreamConsumer,
  type DeadLetterInfo,
  type StreamConsumerOptions,
} from "../src/index.js";
import { fieldsOf, killChildren, messageEvent, recordingLogger, startChild, waitFor } from "./helpers.js";

let r: TestRedis;
let counter = 0;
const nextPrefix = () => `${r.prefix}-${++counter}`;
// Stream-only tests: the tenant need not exist in Postgres.
const tenant = () => ({
  tenantId: uuidv7(),
  teamId: uuidv7(),
  chatgroupId: uuidv7(),
  owner: { id: uuidv7() },
});

beforeAll(async () => {
  r = await createTestRedis();
});
afterAll(async () => {
  await killChildren();
  await r?.cleanup();
});

/** Appends raw entries to the chat stream of `prefix`, as the relay would. */
async function append(prefix: string, ...values: string[]) {
  for (const value of values) await r.client.xadd(createKeyspace(prefix).stream("chat"), "*", "e", value);
}

async function deadLetters(prefix: string) {
  const entries = await r.client.xrange(createKeyspace(prefix).deadLetters("chat"), "-", "+");
  return entries.map(([, fields]) => fieldsOf(fields));
}

const pendingCount = async (prefix: string, group: string) =>
  ((await r.client.xpending(createKeyspace(prefix).stream("chat"), group)) as [number])[0];

function consumerFor(
  prefix: string,
  overrides: Partial<StreamConsumerOptions> & Pick<StreamConsumerOptions, "handle">,
) {
  return createStreamConsumer({
    redis: r.client,
    prefix,
    topic: "chat",
    group: "g",
    consumer: "c1",
    blockMs: 100,
    log: recordingLogger().log,
    ...overrides,
  });
}

describe("stream consumer", () => {
  it("acks handled events, skips unknown types, dead-letters invalid entries at once", async () => {
    const prefix = nextPrefix();
    const a = messageEvent(tenant(), 1);
    const b = messageEvent(tenant(), 2);
    const badPayload = { ...messageEvent(tenant(), 3), payload: { seq: "three" } };
    const future = { ...messageEvent(tenant(), 4), type: "robot.teleported" };
    await append(prefix, JSON.stringify(a), "{not json", JSON.stringify(future), JSON.stringify(badPayload));
    await append(prefix, JSON.stringify(b));
    const handled: DomainEvent[] = [];
    const consumer = consumerFor(prefix, { handle: async (event) => void handled.push(event) });
    consumer.start();
    try {
      await waitFor("two events handled and two dead letters", async () => {
        return handled.length === 2 && (await deadLetters(prefix)).length === 2;
      });
    } finally {
      await consumer.stop();
    }
    expect(handled).toEqual([a, b]);
    const dlq = await deadLetters(prefix);
    expect(dlq[0]).toMatchObject({
      e: "{not json",
      error: expect.stringMatching(/invalid JSON/),
      deliveries: "1",
    });
    expect(dlq[1]).toMatchObject({
      e: JSON.stringify(badPayload),
      error: expect.stringMatching(/invalid message.created payload/),
      group: "g",
    });
    expect(await pendingCount(prefix, "g")).toBe(0);
  });

  it("redelivers to another consumer an entry whose consumer was killed before acking", async () => {
    const prefix = nextPrefix();
    const event = messageEvent(tenant(), 1);
    await append(prefix, JSON.stringify(event));
    const child = startChild("consumer-child.ts", {
      REDIS_URL: r.url,
      BUS_PREFIX: prefix,
      GROUP: "g",
      CONSUMER: "doomed",
    });
    expect(await child.waitForLine(/^got /)).toBe(`got ${event.id} 1`);
    await child.kill();
    expect(await pendingCount(prefix, "g")).toBe(1);

    const received: { id: string; deliveries: number }[] = [];
    const survivor = consumerFor(prefix, {
      consumer: "survivor",
      claimIdleMs: 300,
      handle: async (e, delivery) => void received.push({ id: e.id, deliveries: delivery.deliveries }),
    });
    survivor.start();
    try {
      await waitFor("the entry to be redelivered", () => received.length > 0);
      await waitFor("the entry to be acknowledged", async () => (await pendingCount(prefix, "g")) === 0);
    } finally {
      await survivor.stop();
    }
    expect(received).toEqual([{ id: event.id, deliveries: 2 }]);
  });

  it("dead-letters an entry with its error after maxDeliveries failed attempts, and acks it", async () => {
    const prefix = nextPrefix();
    const event = messageEvent(tenant(), 1);
    await append(prefix, JSON.stringify(event));
    const attempts: number[] = [];
    const parked: DeadLetterInfo[] = [];
    const consumer = consumerFor(prefix, {
      maxDeliveries: 3,
      claimIdleMs: 150,
      onDeadLetter: (info) => parked.push(info),
      handle: async (_event, delivery) => {
        attempts.push(delivery.deliveries);
        throw new Error(`boom on delivery ${delivery.deliveries}`);
      },
    });
    consumer.start();
    try {
      await waitFor("a dead letter", async () => (await deadLetters(prefix)).length === 1);
      await new Promise((resolve) => setTimeout(resolve, 500)); // room for a (wrong) 4th attempt
    } finally {
      await consumer.stop();
    }
    expect(attempts).toEqual([1, 2, 3]);
    // Told once, after the entry was parked (how services count dead letters in a metric).
    const [entry] = await deadLetters(prefix);
    expect(parked).toEqual([{ topic: "chat", group: "g", streamId: entry?.streamId, deliveries: 3 }]);
    expect(await deadLetters(prefix)).toEqual([
      expect.objectContaining({
        e: JSON.stringify(event),
        error: "boom on delivery 3",
        deliveries: "3",
        consumer: "c1",
      }),
    ]);
    expect(await pendingCount(prefix, "g")).toBe(0);
  });

  it("dead-letters a poison entry that exceeded maxDeliveries without ever being acked", async () => {
    const prefix = nextPrefix();
    const stream = createKeyspace(prefix).stream("chat");
    await r.client.xgroup("CREATE", stream, "g", "0", "MKSTREAM");
    await append(prefix, JSON.stringify(messageEvent(tenant(), 1)));
    // Simulate consumers that kept dying on it: delivered 5 times, never acknowledged.
    const read = (await r.client.xreadgroup("GROUP", "g", "ghost", "STREAMS", stream, ">")) as [
      string,
      [string, string[]][],
    ][];
    const id = read[0]![1][0]![0];
    await r.client.xclaim(stream, "g", "ghost", 0, id, "RETRYCOUNT", 5);
    let calls = 0;
    const consumer = consumerFor(prefix, {
      maxDeliveries: 5,
      claimIdleMs: 100,
      handle: async () => void calls++,
    });
    consumer.start();
    try {
      await waitFor("a dead letter", async () => (await deadLetters(prefix)).length === 1);
    } finally {
      await consumer.stop();
    }
    expect(calls).toBe(0);
    expect((await deadLetters(prefix))[0]).toMatchObject({
      streamId: id,
      error: "not acknowledged after 5 deliveries",
    });
    expect(await pendingCount(prefix, "g")).toBe(0);
  });

  it("stop() waits for the handler in flight, which is then acknowledged", async () => {
    const prefix = nextPrefix();
    await append(prefix, JSON.stringify(messageEvent(tenant(), 1)));
    let isStarted = false;
    let isDone = false;
    const consumer = consumerFor(prefix, {
      handle: async () => {
        isStarted = true;
        await new Promise((resolve) => setTimeout(resolve, 400));
        isDone = true;
      },
    });
    consumer.start();
    await waitFor("the handler to start", () => isStarted);
    await consumer.stop();
    expect(isDone).toBe(true);
    expect(await pendingCount(prefix, "g")).toBe(0);
  });
});
