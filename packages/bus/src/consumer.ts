import type { DomainEvent, EventTopic } from "@perseus/contracts";
import { inSpan, SpanKind } from "@perseus/tracing";
import type { Redis } from "ioredis";
import { parseEventJson } from "./events.js";
import { createKeyspace } from "./keys.js";
import { type BusLogger, backoffMs, consoleLogger, errorMessage, sleep } from "./log.js";

export type DeliveryInfo = { streamId: string; deliveries: number };

/** An entry a consumer moved to its topic's dead-letter stream. */
export type DeadLetterInfo = { topic: string; group: string; streamId: string; deliveries: number };

export type StreamConsumerOptions = {
  /** Used for XACK, XAUTOCLAIM and dead-lettering; blocking reads get their own duplicate. */
  redis: Redis;
  prefix: string;
  topic: EventTopic;
  /** The consuming service (one group per service: every service sees every event once). */
  group: string;
  /** This instance's id within the group (e.g. hostname + pid). */
  consumer: string;
  /** Must be idempotent: delivery is at-least-once (use `markProcessed`). */
  handle: (event: DomainEvent, delivery: DeliveryInfo) => Promise<void>;
  /** Deliveries after which a failing entry goes to the dead-letter stream. */
  maxDeliveries?: number;
  /** An entry pending this long (its consumer died or failed) is claimed and redelivered. */
  claimIdleMs?: number;
  blockMs?: number;
  batchSize?: number;
  /** Where a newly created group starts: "0" = the whole retained stream, "$" = new entries only. */
  startFrom?: string;
  log?: BusLogger;
  /** Called once an entry is parked in the dead-letter stream (e.g. to count it in a metric). */
  onDeadLetter?: (info: DeadLetterInfo) => void;
};

export type StreamConsumer = {
  start(): void;
  /** Stops reading and resolves once the handler in flight (if any) has finished. */
  stop(): Promise<void>;
};

type Entry = [id: string, fields: string[] | null];

function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Reads one topic's stream as a member of a consumer group, with redelivery and a dead-letter stream. */
export function createStreamConsumer(options: StreamConsumerOptions): StreamConsumer {
  const { redis, topic, group, consumer, handle } = options;
  const log = options.log ?? consoleLogger;
  const keys = createKeyspace(options.prefix);
  const stream = keys.stream(topic);
  const maxDeliveries = options.maxDeliveries ?? 5;
  const claimIdleMs = options.claimIdleMs ?? 30_000;
  const blockMs = options.blockMs ?? 2_000;
  const batchSize = options.batchSize ?? 100;
  const startFrom = options.startFrom ?? "0";
  // Claim often enough that a dead consumer's entries wait about claimIdleMs, not twice that.
  const claimEveryMs = Math.max(50, Math.min(claimIdleMs / 2, 10_000));
  const context = { stream, group, consumer };

  let running = false;
  let abort = new AbortController();
  let loop: Promise<void> | undefined;
  let blocking: Redis | undefined;

  async function ensureGroup() {
    try {
      await redis.xgroup("CREATE", stream, group, startFrom, "MKSTREAM");
    } catch (error) {
      if (!errorMessage(error).startsWith("BUSYGROUP")) throw error;
    }
  }

  async function deadLetter(id: string, raw: string | undefined, reason: string, deliveries: number) {
    // Same hash tag as the stream, so this MULTI is legal on a cluster; the ack makes it final.
    const results = await redis
      .multi()
      .xadd(
        keys.deadLetters(topic),
        "*",
        ...["e", raw ?? "", "error", reason.slice(0, 4_000), "streamId", id],
        ...["group", group, "consumer", consumer, "deliveries", String(deliveries)],
        ...["failedAt", new Date().toISOString()],
      )
      .xack(stream, group, id)
      .exec();
    const failed = results?.find(([error]) => error);
    if (!results || failed?.[0]) throw failed?.[0] ?? new Error("dead-lettering was aborted");
    log.warn({ ...context, streamId: id, deliveries, reason }, "event moved to dead-letter stream");
    options.onDeadLetter?.({ topic, group, streamId: id, deliveries });
  }

  async function handleEntry(id: string, fields: string[], deliveries: number) {
    const raw = field(fields, "e");
    const parsed = parseEventJson(raw);
    if (parsed.kind === "invalid") return deadLetter(id, raw, parsed.error, deliveries);
    if (parsed.kind === "unknown") {
      log.info({ ...context, streamId: id, type: parsed.envelope.type }, "skipping event of unknown type");
      await redis.xack(stream, group, id);
      return;
    }
    try {
      const { event } = parsed;
      if (event.trace?.traceparent) {
        // Child of the context the event was written in: one event, one handling, one causal
        // chain, so the request's trace continues here (see docs/architecture.md).
        await inSpan(
          `process ${event.type}`,
          {
            kind: SpanKind.CONSUMER,
            parent: event.trace,
            attributes: {
              "messaging.system": "redis",
              "messaging.operation.type": "process",
              "messaging.destination.name": stream,
              "messaging.consumer.group.name": group,
              "messaging.message.id": event.id,
              "perseus.delivery": deliveries,
            },
          },
          () => handle(event, { streamId: id, deliveries }),
        );
      } else {
        await handle(event, { streamId: id, deliveries });
      }
    } catch (error) {
      if (deliveries >= maxDeliveries) return deadLetter(id, raw, errorMessage(error), deliveries);
      // Left pending: XAUTOCLAIM hands it out again once it has been idle for claimIdleMs.
      log.warn({ ...context, streamId: id, deliveries, err: errorMessage(error) }, "event handler failed");
      return;
    }
    await redis.xack(stream, group, id);
  }

  /** Takes over entries idle longer than claimIdleMs (of dead, stuck or failing consumers). */
  async function claimIdle() {
    let cursor = "0-0";
    for (let round = 0; round < 10 && running; round++) {
      const reply = (await redis.xautoclaim(
        stream,
        group,
        consumer,
        claimIdleMs,
        cursor,
        "COUNT",
        batchSize,
      )) as [string, Entry[]];
      const [next, entries] = reply;
      const live = entries.filter((entry): entry is [string, string[]] => entry[1] !== null);
      const counts = await deliveryCounts(live.map(([id]) => id));
      for (const [id, fields] of live) {
        if (!running) return;
        const deliveries = counts.get(id);
        if (deliveries === undefined) continue; // acknowledged meanwhile by its previous owner
        // Over the limit without a handler error: a poison entry keeps killing or stalling consumers.
        if (deliveries > maxDeliveries) {
          await deadLetter(
            id,
            field(fields, "e"),
            `not acknowledged after ${maxDeliveries} deliveries`,
            deliveries,
          );
        } else {
          await handleEntry(id, fields, deliveries);
        }
      }
      cursor = next;
      if (cursor === "0-0") return;
    }
  }

  async function deliveryCounts(ids: string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    if (ids.length === 0) return counts;
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.xpending(stream, group, id, id, 1);
    const results = (await pipeline.exec()) ?? [];
    for (const [error, reply] of results) {
      if (error) throw error;
      const row = (reply as [string, string, number, number][])[0];
      if (row) counts.set(row[0], Number(row[3]));
    }
    return counts;
  }

  async function readNew(connection: Redis): Promise<Entry[]> {
    const reply = (await connection.xreadgroup(
      "GROUP",
      group,
      consumer,
      "COUNT",
      batchSize,
      "BLOCK",
      blockMs,
      "STREAMS",
      stream,
      ">",
    )) as [string, Entry[]][] | null;
    return reply?.[0]?.[1] ?? [];
  }

  async function run(connection: Redis, signal: AbortSignal) {
    let failures = 0;
    let isGroupReady = false;
    let lastClaim = 0;
    while (running) {
      try {
        if (!isGroupReady) {
          await ensureGroup();
          isGroupReady = true;
        }
        if (Date.now() - lastClaim >= claimEveryMs) {
          lastClaim = Date.now();
          await claimIdle();
        }
        for (const [id, fields] of await readNew(connection)) {
          if (!running) break; // the rest stays pending and is claimed by another consumer
          await handleEntry(id, fields ?? [], 1);
        }
        failures = 0;
      } catch (error) {
        if (!running) break;
        // The stream or group vanished (Redis restarted empty, key deleted): recreate it.
        if (errorMessage(error).includes("NOGROUP")) isGroupReady = false;
        const delay = backoffMs(++failures);
        log.error({ ...context, err: errorMessage(error), retryInMs: delay }, "stream consumer failed");
        await sleep(delay, signal);
      }
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      abort = new AbortController();
      // Own connection: a BLOCK read would otherwise stall every command queued behind it.
      blocking = redis.duplicate({
        commandTimeout: blockMs + 5_000,
        enableOfflineQueue: true,
        connectionName: `perseus-consumer-${group}`,
      });
      blocking.on("error", () => {}); // reconnects by itself; failures surface in the read loop
      loop = run(blocking, abort.signal);
    },
    async stop() {
      if (!running) return;
      running = false;
      abort.abort();
      // Interrupts a blocked read at once; a handler in flight uses `redis` and runs to completion.
      blocking?.disconnect();
      await loop;
    },
  };
}
