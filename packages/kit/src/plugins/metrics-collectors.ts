import { createKeyspace, type DeadLetterInfo } from "@perseus/bus";
import type { Redis } from "ioredis";
import type pg from "pg";
import type { Registry } from "prom-client";
import { createScrapeSnapshot, defineCounter, defineGauge } from "./metrics.js";

/** How long a scrape-time read of Postgres or Redis is reused (Prometheus scrapes every 15 s or so). */
export const DEFAULT_SCRAPE_TTL_MS = 5_000;

/** A BullMQ queue as the bus's `createQueue` returns it: a catalog name and the queue. */
export type CountableQueue = {
  readonly name: string;
  readonly queue: { getJobCounts(...types: string[]): Promise<Record<string, number>> };
};

const JOB_STATES = ["waiting", "prioritized", "active", "delayed", "failed"] as const;

/**
 * `perseus_queue_jobs{queue,state}`: the jobs of each BullMQ queue by state, counted at
 * scrape time (one round trip per queue per TTL). `queues` is asked on every scrape, so a
 * service may start its queues later (or not at all on this replica).
 */
export function registerQueueMetrics(
  registry: Registry,
  options: { queues: () => readonly CountableQueue[]; ttlMs?: number },
): void {
  const snapshot = createScrapeSnapshot(registry, {
    collector: "queues",
    ttlMs: options.ttlMs ?? DEFAULT_SCRAPE_TTL_MS,
    load: () =>
      Promise.all(
        options.queues().map(async (typed) => ({
          queue: typed.name,
          counts: await typed.queue.getJobCounts(...JOB_STATES),
        })),
      ),
  });
  defineGauge(registry, {
    name: "perseus_queue_jobs",
    help: "Jobs in each BullMQ queue by state (waiting, prioritized, active, delayed, failed)",
    labelNames: ["queue", "state"],
    collect: async (gauge) => {
      const queues = await snapshot.get();
      gauge.reset();
      for (const { queue, counts } of queues ?? [])
        for (const state of JOB_STATES) gauge.set({ queue, state }, counts[state] ?? 0);
    },
  });
}

/** A consumer group this service reads with: its topic's stream and the group name. */
export type ConsumedStream = { topic: string; group: string };

type GroupInfo = { lag: number | null; pending: number };

/** Reads `XINFO GROUPS`' flat [name, value, ...] rows (RESP2) into the two numbers we need. */
function groupInfo(rows: unknown, group: string): GroupInfo | undefined {
  for (const row of (rows as unknown[][]) ?? []) {
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < row.length; i += 2) fields.set(String(row[i]), row[i + 1]);
    if (fields.get("name") !== group) continue;
    const lag = fields.get("lag");
    return {
      lag: lag === null || lag === undefined ? null : Number(lag),
      pending: Number(fields.get("pending") ?? 0),
    };
  }
  return undefined;
}

/**
 * Consumer lag of the service's stream consumer groups, read at scrape time with
 * `XINFO GROUPS` (Redis 7): `perseus_stream_consumer_lag{stream,group}` (entries not yet
 * delivered to the group), `perseus_stream_consumer_pending{stream,group}` (delivered, not
 * acknowledged) and `perseus_stream_dead_letters{stream}` (entries parked in the topic's
 * dead-letter stream). A group that does not exist yet reports nothing.
 */
export function registerStreamMetrics(
  registry: Registry,
  options: { redis: Redis; prefix: string; consumed: readonly ConsumedStream[]; ttlMs?: number },
): void {
  const keys = createKeyspace(options.prefix);
  const topics = [...new Set(options.consumed.map((entry) => entry.topic))];
  const snapshot = createScrapeSnapshot(registry, {
    collector: "streams",
    ttlMs: options.ttlMs ?? DEFAULT_SCRAPE_TTL_MS,
    // One command per key (not a pipeline): each topic's stream lives in its own cluster slot.
    load: async () => {
      const noStream = (error: Error) => {
        if (/no such key/i.test(error.message)) return [];
        throw error;
      };
      const [groups, deadLetters] = await Promise.all([
        Promise.all(topics.map((topic) => options.redis.xinfo("GROUPS", keys.stream(topic)).catch(noStream))),
        Promise.all(topics.map((topic) => options.redis.xlen(keys.deadLetters(topic)))),
      ]);
      const byTopic = new Map(topics.map((topic, i) => [topic, groups[i]]));
      return {
        groups: options.consumed.map((entry) => ({
          ...entry,
          info: groupInfo(byTopic.get(entry.topic), entry.group),
        })),
        deadLetters: topics.map((topic, i) => ({ topic, length: deadLetters[i] ?? 0 })),
      };
    },
  });
  defineGauge(registry, {
    name: "perseus_stream_consumer_lag",
    help: "Stream entries not yet delivered to the consumer group (XINFO GROUPS lag)",
    labelNames: ["stream", "group"],
    collect: async (gauge) => {
      const value = await snapshot.get();
      gauge.reset();
      for (const { topic, group, info } of value?.groups ?? [])
        if (info && info.lag !== null) gauge.set({ stream: topic, group }, info.lag);
    },
  });
  defineGauge(registry, {
    name: "perseus_stream_consumer_pending",
    help: "Stream entries delivered to the consumer group but not acknowledged yet",
    labelNames: ["stream", "group"],
    collect: async (gauge) => {
      const value = await snapshot.get();
      gauge.reset();
      for (const { topic, group, info } of value?.groups ?? [])
        if (info) gauge.set({ stream: topic, group }, info.pending);
    },
  });
  defineGauge(registry, {
    name: "perseus_stream_dead_letters",
    help: "Entries waiting in the topic's dead-letter stream",
    labelNames: ["stream"],
    collect: async (gauge) => {
      const value = await snapshot.get();
      gauge.reset();
      for (const { topic, length } of value?.deadLetters ?? []) gauge.set({ stream: topic }, length);
    },
  });
}

/**
 * `perseus_stream_dead_lettered_total{stream,group}`: pass the returned function as the
 * stream consumer's `onDeadLetter`.
 */
export function createDeadLetterCounter(registry: Registry): (info: DeadLetterInfo) => void {
  const counter = defineCounter(registry, {
    name: "perseus_stream_dead_lettered_total",
    help: "Stream entries this service's consumers moved to a dead-letter stream",
    labelNames: ["stream", "group"],
  });
  return (info) => counter.inc({ stream: info.topic, group: info.group });
}

type BacklogRow = { topic: string; backlog: string; oldest_age_seconds: number | null };

/**
 * The outbox backlog of the topics this service publishes: `perseus_outbox_backlog{topic}`
 * (rows not relayed yet) and `perseus_outbox_oldest_age_seconds{topic}` (0 when empty). The
 * outbox holds every tenant's rows, so it is read through `perseus_sys.outbox_backlog`, a
 * function that returns only counts.
 */
export function registerOutboxMetrics(
  registry: Registry,
  options: { pool: pg.Pool; topics: readonly string[]; ttlMs?: number },
): void {
  const snapshot = createScrapeSnapshot(registry, {
    collector: "outbox",
    ttlMs: options.ttlMs ?? DEFAULT_SCRAPE_TTL_MS,
    load: async () =>
      (
        await options.pool.query<BacklogRow>(
          "SELECT topic, backlog, oldest_age_seconds FROM perseus_sys.outbox_backlog($1::text[])",
          [options.topics],
        )
      ).rows,
  });
  defineGauge(registry, {
    name: "perseus_outbox_backlog",
    help: "Outbox rows written but not yet relayed to Redis Streams, by topic",
    labelNames: ["topic"],
    collect: async (gauge) => {
      const rows = await snapshot.get();
      gauge.reset();
      for (const row of rows ?? []) gauge.set({ topic: row.topic }, Number(row.backlog));
    },
  });
  defineGauge(registry, {
    name: "perseus_outbox_oldest_age_seconds",
    help: "Age of the oldest outbox row not yet relayed, by topic (0 when none)",
    labelNames: ["topic"],
    collect: async (gauge) => {
      const rows = await snapshot.get();
      gauge.reset();
      for (const row of rows ?? []) gauge.set({ topic: row.topic }, Number(row.oldest_age_seconds ?? 0));
    },
  });
}
