import type { FastifyBaseLogger } from "fastify";
import type { Redis } from "ioredis";

/** One stream entry: its id and its fields (values kept as bytes: pty output is binary). */
export type StreamEntry = { id: string; fields: Map<string, Buffer> };

/** Orders stream ids (`<ms>-<seq>`). */
export function compareIds(a: string, b: string): number {
  const [am = "0", as = "0"] = a.split("-");
  const [bm = "0", bs = "0"] = b.split("-");
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms > 0n ? 1 : -1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq > 0n ? 1 : -1;
}

type RawEntry = [Buffer, Buffer[]];

export function toEntry([id, flat]: RawEntry): StreamEntry {
  const fields = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2)
    fields.set((flat[i] as Buffer).toString(), flat[i + 1] as Buffer);
  return { id: id.toString(), fields };
}

/**
 * Reads a changing set of Redis streams with one blocking XREAD loop on a connection of its
 * own, and hands each new entry to the callback of its stream, in order. A replica needs one
 * per purpose, not one per session or viewer.
 */
export function createStreamFanIn(options: {
  redis: Redis;
  blockMs: number;
  log: FastifyBaseLogger;
  onEntries: (key: string, entries: StreamEntry[]) => void;
}) {
  const { redis } = options;
  const cursors = new Map<string, string>();
  let isRunning = false;
  let wake: (() => void) | null = null;
  let loop: Promise<void> | null = null;

  async function run() {
    let failures = 0;
    while (isRunning) {
      if (cursors.size === 0) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
        continue;
      }
      const keys = [...cursors.keys()];
      const ids = keys.map((key) => cursors.get(key) as string);
      try {
        const reply = (await redis.xreadBuffer(
          "COUNT",
          64,
          "BLOCK",
          options.blockMs,
          "STREAMS",
          ...keys,
          ...ids,
        )) as [Buffer, RawEntry[]][] | null;
        failures = 0;
        for (const [rawKey, rawEntries] of reply ?? []) {
          const key = rawKey.toString();
          if (!cursors.has(key) || rawEntries.length === 0) continue;
          const entries = rawEntries.map(toEntry);
          cursors.set(key, (entries[entries.length - 1] as StreamEntry).id);
          try {
            options.onEntries(key, entries);
          } catch (error) {
            options.log.warn({ err: error, key }, "terminal stream entry handler failed");
          }
        }
      } catch (error) {
        if (!isRunning) break;
        failures++;
        if (failures === 1) options.log.warn({ err: error }, "terminal stream read failed; retrying");
        await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * failures)));
      }
    }
  }

  return {
    /** Follows `key` from after `fromId` ("0" for the whole stream). */
    add(key: string, fromId: string) {
      if (!cursors.has(key)) cursors.set(key, fromId);
      wake?.();
    },
    remove(key: string) {
      cursors.delete(key);
    },
    has(key: string) {
      return cursors.has(key);
    },
    start() {
      if (isRunning) return;
      isRunning = true;
      loop = run();
    },
    async stop() {
      isRunning = false;
      wake?.();
      redis.disconnect();
      await loop;
    },
  };
}
export type StreamFanIn = ReturnType<typeof createStreamFanIn>;
