import { isTracingEnabled, SpanKind, type StartSpanOptions, startSpan } from "@perseus/tracing";
import type { Redis } from "ioredis";
import pg from "pg";
import { createKeyspace } from "./keys.js";
import { type BusLogger, backoffMs, consoleLogger, errorMessage, sleep } from "./log.js";

/** One claimed outbox row (`id` is a bigint, which pg returns as a string). */
export type OutboxRow = { id: string; tenant_id: string; topic: string; envelope: unknown };

export type OutboxRelayOptions = {
  /** Pool of the application role; the relay reads through the perseus_sys functions. */
  pool: pg.Pool;
  /** A fail-fast ("command") connection, so an outage surfaces as an error, not a hang. */
  redis: Redis;
  prefix: string;
  log?: BusLogger;
  batchSize?: number;
  /** Fallback poll when a NOTIFY is missed (listener reconnecting, notification lost). */
  pollIntervalMs?: number;
  /** Approximate MAXLEN of each stream: consumers must keep up within this window. */
  streamMaxLen?: number;
  /** A batch stuck longer than this (idle in transaction) is aborted by Postgres, freeing its locks. */
  batchTimeoutMs?: number;
  /** Test-only fault injection points; never set in production. */
  hooks?: {
    afterClaim?: (rows: readonly OutboxRow[]) => Promise<void>;
    afterPublish?: (rows: readonly OutboxRow[]) => Promise<void>;
  };
};

export type OutboxRelay = {
  /** Starts the background loop (LISTEN + poll). Idempotent. */
  start(): void;
  /** Stops the loop after the batch in progress and closes the listener. */
  stop(): Promise<void>;
  /** Publishes one batch; returns how many events it published (0 when another relay holds the lock). */
  flushOnce(): Promise<number>;
};

const NOTIFY_CHANNEL = "perseus_outbox";
// One relay publishes at a time per database, which keeps each stream in outbox id order.
const LOCK_NAME = "perseus.outbox-relay";

/**
 * Moves committed outbox rows to Redis Streams. Delivery is at-least-once: a relay that
 * dies after XADD but before COMMIT leaves the rows in place and they are published again,
 * so consumers dedupe on the event id (see `markProcessed`).
 */
export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { pool, redis, hooks = {} } = options;
  const log = options.log ?? consoleLogger;
  const keys = createKeyspace(options.prefix);
  const batchSize = options.batchSize ?? 500;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const streamMaxLen = options.streamMaxLen ?? 100_000;
  const batchTimeoutMs = options.batchTimeoutMs ?? 30_000;

  let running = false;
  let abort = new AbortController();
  let loop: Promise<void> | undefined;
  let listener: Promise<void> | undefined;
  let pendingWake = false;
  let wakeUp: (() => void) | undefined;

  function wake() {
    pendingWake = true;
    wakeUp?.();
  }

  /** Waits for a NOTIFY, the poll interval or stop(), whichever comes first. */
  async function waitForWork() {
    if (!pendingWake) {
      const woken = new AbortController();
      wakeUp = () => woken.abort();
      await sleep(pollIntervalMs, AbortSignal.any([abort.signal, woken.signal]));
      wakeUp = undefined;
    }
    pendingWake = false;
  }

  /**
   * With tracing on, one producer span per traced event, child of the context its outbox
   * write captured: the trace shows how long the event waited for the relay.
   */
  function publishSpans(topic: string, rows: readonly OutboxRow[]) {
    if (!isTracingEnabled()) return [];
    return rows.flatMap((row) => {
      const parent = (row.envelope as { trace?: StartSpanOptions["parent"] }).trace;
      if (!parent) return [];
      const started = startSpan(`publish ${topic}`, {
        kind: SpanKind.PRODUCER,
        parent,
        attributes: {
          "messaging.system": "redis",
          "messaging.operation.type": "send",
          "messaging.destination.name": keys.stream(topic),
          "messaging.message.id": String((row.envelope as { id?: unknown }).id),
        },
      });
      return started ? [started.span] : [];
    });
  }

  async function publish(rows: readonly OutboxRow[]) {
    // One MULTI per topic: streams of different topics live in different cluster slots,
    // and order only matters within a stream.
    const byTopic = new Map<string, OutboxRow[]>();
    for (const row of rows) byTopic.set(row.topic, [...(byTopic.get(row.topic) ?? []), row]);
    await Promise.all(
      [...byTopic].map(async ([topic, topicRows]) => {
        const multi = redis.multi();
        for (const row of topicRows) {
          multi.xadd(keys.stream(topic), "MAXLEN", "~", streamMaxLen, "*", "e", JSON.stringify(row.envelope));
        }
        const spans = publishSpans(topic, topicRows);
        try {
          const results = await multi.exec();
          if (!results) throw new Error(`publishing to topic ${topic} was aborted`);
          const failed = results.find(([error]) => error);
          if (failed?.[0]) throw failed[0];
        } finally {
          for (const span of spans) span.end();
        }
      }),
    );
  }

  async function flushOnce(): Promise<number> {
    const client = await pool.connect();
    // pg-pool drops its error listener while a client is checked out; without ours a
    // Postgres restart mid-batch would be an unhandled 'error' event and kill the process.
    // The failure still surfaces: the pending query rejects.
    const ignore = () => {};
    client.on("error", ignore);
    let isClean = false;
    try {
      await client.query("BEGIN");
      await client.query("SELECT set_config('idle_in_transaction_session_timeout', $1, true)", [
        String(batchTimeoutMs),
      ]);
      const lock = await client.query<{ locked: boolean }>(
        "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked",
        [LOCK_NAME],
      );
      if (!lock.rows[0]?.locked) {
        await client.query("ROLLBACK");
        isClean = true;
        return 0;
      }
      const { rows } = await client.query<OutboxRow>(
        "SELECT id, tenant_id, topic, envelope FROM perseus_sys.outbox_claim($1)",
        [batchSize],
      );
      if (rows.length > 0) {
        await hooks.afterClaim?.(rows);
        await publish(rows);
        await hooks.afterPublish?.(rows);
        await client.query("SELECT perseus_sys.outbox_delete($1::bigint[])", [rows.map((row) => row.id)]);
      }
      await client.query("COMMIT");
      isClean = true;
      return rows.length;
    } catch (error) {
      // Rolling back keeps the rows: whatever was not confirmed is published again later.
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.removeListener("error", ignore);
      // A connection that failed mid-transaction is in an unknown state: discard it.
      client.release(isClean ? undefined : true);
    }
  }

  async function runLoop() {
    let failures = 0;
    while (running) {
      try {
        while (running && (await flushOnce()) > 0) {}
        failures = 0;
        await waitForWork();
      } catch (error) {
        failures++;
        const delay = backoffMs(failures);
        log.error({ err: errorMessage(error), retryInMs: delay }, "outbox relay batch failed");
        await sleep(delay, abort.signal);
      }
    }
  }

  /** Keeps a LISTEN connection open, reconnecting with backoff; the poll covers the gaps. */
  async function runListener(signal: AbortSignal) {
    let failures = 0;
    while (running) {
      let client: pg.Client | undefined;
      try {
        client = new pg.Client(pool.options);
        const listening = client;
        const closed = new Promise<unknown>((resolve) => {
          listening.on("error", resolve);
          listening.on("end", () => resolve(new Error("listen connection ended")));
          signal.addEventListener("abort", () => resolve(undefined), { once: true });
        });
        client.on("notification", wake);
        await client.connect();
        await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
        failures = 0;
        wake(); // rows may have been written while we were not listening
        const reason = await closed;
        if (running) log.warn({ err: errorMessage(reason) }, "outbox listen connection lost");
      } catch (error) {
        if (running) log.warn({ err: errorMessage(error) }, "outbox listen connection failed");
      }
      await client?.end().catch(() => {});
      if (running) await sleep(backoffMs(++failures), signal);
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      abort = new AbortController();
      loop = runLoop();
      listener = runListener(abort.signal);
    },
    async stop() {
      if (!running) return;
      running = false;
      abort.abort();
      wake();
      await Promise.all([loop, listener]);
    },
    flushOnce,
  };
}
