import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { inject } from "vitest";
import "./provided.js";

export type TestRedis = {
  url: string;
  /** Key prefix private to this test file; pass it to everything that names Redis keys. */
  prefix: string;
  client: Redis;
  cleanup: () => Promise<void>;
};

/** An isolated Redis namespace: a unique key prefix whose keys are deleted afterwards. */
export async function createTestRedis(): Promise<TestRedis> {
  const url = inject("perseusRedisUrl");
  const prefix = `pt${randomBytes(5).toString("hex")}`;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await client.connect();
  return {
    url,
    prefix,
    client,
    cleanup: async () => {
      let cursor = "0";
      do {
        const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
        cursor = next;
        if (keys.length) await client.unlink(...keys);
      } while (cursor !== "0");
      client.disconnect();
    },
  };
}
