import type { FastifyBaseLogger } from "fastify";
import type { Redis } from "ioredis";

export type StreamEntry = [id: string, fields: string[]];

export type StreamTailOptions = {
  /** Duplicated for the blocking reads; never blocked itself. */
  redis: Redis;
  key: string;
  /** Called in order with every batch read; runs synchronously before the next read. */
  onEntries: (entries: StreamEntry[]) => void;
  /** Entries this replica had not read yet were deleted (trimmed, flushed, Redis restarted empty). */
  onLoss: (reason: string) => void;
  log: FastifyBaseLogger;
  blockMs?: number;
  batchSize?: number;
};

export type StreamTail = {
  start(): void;
  /** Resolves once the tail is positioned at the stream's end (entries after that are delivered). */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
};

function compareIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split("-").map(Number);
  const [bMs = 0, bSeq = 0] = b.split("-").map(Number);
  return aMs - bMs || aSeq - bSeq;
}

function infoField(info: unknown[], name: string): unknown {
  for (let i = 0; i + 1 < info.length; i += 2) if (info[i] === name) return info[i + 1];
  return undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Follows one stream with this replica's own cursor (XREAD BLOCK from the last id read):
 * every replica sees every entry. After each read, XINFO in the same pipeline tells
 * whether entries after our cursor were deleted before we read them; then `onLoss` lets
 * the hub re-sync from Postgres, so a lost entry is never a silent gap.
 */
export function createStreamTail(options: StreamTailOptions): StreamTail {
  const { key, log } = options;
  const blockMs = options.blockMs ?? 5_000;
  const batchSize = options.batchSize ?? 500;
  let running = false;
  let loop: Promise<void> | undefined;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  let connection: Redis | undefined;
  /** "0-0" means "from the start of the stream": nothing before it can be lost. */
  let lastId = "0-0";

  /**
   * Whether entries after `cursor` were deleted before we read them, judging by the
   * stream's state right after a read that returned `count` entries. A false alarm (an
   * entry added between the read and XINFO) only costs a re-sync.
   */
  function lossSince(cursor: string, info: unknown[] | null, count: number): string | null {
    if (cursor === "0-0") return null;
    if (!info) return "stream missing";
    const lastGenerated = String(infoField(info, "last-generated-id") ?? "0-0");
    if (compareIds(lastGenerated, cursor) < 0) return "stream recreated";
    const maxDeleted = String(infoField(info, "max-deleted-entry-id") ?? "0-0");
    if (compareIds(maxDeleted, cursor) > 0) return "entries deleted";
    const first = infoField(info, "first-entry") as [string, string[]] | null | undefined;
    // Trimming removes from the head: a head beyond our cursor means unread entries may be gone.
    if (first && compareIds(first[0], cursor) > 0) return "stream trimmed";
    // Entries were added after our cursor, yet the read found none: trimmed away entirely.
    if (count === 0 && compareIds(lastGenerated, cursor) > 0) return "stream emptied";
    return null;
  }

  async function readOnce(redis: Redis) {
    const cursor = lastId;
    const results = await redis
      .pipeline()
      .xread("COUNT", batchSize, "BLOCK", blockMs, "STREAMS", key, cursor)
      .xinfo("STREAM", key)
      .exec();
    const [readResult, infoResult] = results ?? [];
    if (!readResult || readResult[0]) throw readResult?.[0] ?? new Error("xread aborted");
    const reply = readResult[1] as [string, StreamEntry[]][] | null;
    const entries = reply?.[0]?.[1] ?? [];
    const info = infoResult && !infoResult[0] ? (infoResult[1] as unknown[]) : null;
    const loss = lossSince(cursor, info, entries.length);
    const last = entries.at(-1);
    if (last) lastId = last[0];
    if (loss) {
      // Everything up to the stream's last id is now either read or covered by the re-sync
      // (which reads Postgres after this point): move past it so the alarm does not repeat.
      const lastGenerated = info ? String(infoField(info, "last-generated-id") ?? "0-0") : "0-0";
      if (loss === "stream missing") lastId = "0-0";
      else if (loss === "stream recreated" || compareIds(lastGenerated, lastId) > 0) lastId = lastGenerated;
      log.warn({ stream: key, cursor, reason: loss }, "stream history lost; re-syncing from Postgres");
      options.onLoss(loss);
    }
    if (entries.length > 0) options.onEntries(entries);
  }

  /** Start at the current end: sockets resume from Postgres, so older entries are not needed. */
  async function position(redis: Redis) {
    for (let failures = 1; running; failures++) {
      try {
        const info = (await redis.xinfo("STREAM", key)) as unknown[];
        lastId = String(infoField(info, "last-generated-id") ?? "0-0");
        return;
      } catch (error) {
        if ((error as Error).message.includes("no such key")) {
          lastId = "0-0";
          return;
        }
        log.warn({ stream: key, err: (error as Error).message }, "stream tail cannot read the stream yet");
        await sleep(Math.min(100 * 2 ** failures, 5_000));
      }
    }
  }

  async function run(redis: Redis) {
    await position(redis);
    markReady();
    let failures = 0;
    while (running) {
      try {
        await readOnce(redis);
        failures = 0;
      } catch (error) {
        if (!running) break;
        failures++;
        log.warn({ stream: key, err: (error as Error).message }, "stream tail read failed");
        await sleep(Math.min(100 * 2 ** failures, 5_000));
      }
    }
  }

  return {
    ready,
    start() {
      if (running) return;
      running = true;
      connection = options.redis.duplicate({
        maxRetriesPerRequest: null,
        enableOfflineQueue: true,
        commandTimeout: blockMs + 10_000,
        connectionName: "perseus-chat-tail",
      });
      connection.on("error", () => {});
      loop = run(connection);
    },
    async stop() {
      markReady();
      if (!running) return;
      running = false;
      connection?.disconnect();
      await loop;
    },
  };
}
