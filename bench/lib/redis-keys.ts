// Benchmarks run services under a Redis prefix of their own; this removes what they left.
import type { Redis } from "ioredis";

/** Unlinks every key matching `pattern` (SCAN, never KEYS, so a shared Redis is not blocked). */
export async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== "0");
}
