import { Redis, type RedisOptions } from "ioredis";
import { type BusLogger, consoleLogger, errorMessage } from "./log.js";

/**
 * What a connection is for:
 * - `worker`: BullMQ workers and other long-lived loops; commands wait out a reconnect.
 * - `command`: request-path reads/writes; fail after one retry and a short timeout.
 * - `producer`: enqueuing from an API; fails at once while Redis is unreachable, so the
 *   API answers 503 instead of queueing requests in memory.
 */
export type RedisRole = "command" | "worker" | "producer";

export type RedisConnectionOptions = {
  log?: BusLogger;
  /** Per-command timeout of command/producer connections. */
  commandTimeoutMs?: number;
  /** Extra ioredis options, applied last. */
  overrides?: RedisOptions;
};

const roleOptions = (role: RedisRole, commandTimeout: number): RedisOptions => {
  switch (role) {
    // BullMQ requires maxRetriesPerRequest: null for workers (it throws otherwise).
    case "worker":
      return { maxRetriesPerRequest: null, enableOfflineQueue: true };
    case "command":
      return { maxRetriesPerRequest: 1, enableOfflineQueue: true, commandTimeout, connectTimeout: 5_000 };
    case "producer":
      return { maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout, connectTimeout: 5_000 };
  }
};

/** Opens a Redis connection configured for its role; errors are logged, never thrown as events. */
export function createRedisConnection(
  url: string,
  role: RedisRole,
  options: RedisConnectionOptions = {},
): Redis {
  const log = options.log ?? consoleLogger;
  const redis = new Redis(url, {
    connectionName: `perseus-${role}`,
    ...roleOptions(role, options.commandTimeoutMs ?? 2_000),
    ...options.overrides,
  });
  // Without a listener ioredis prints every reconnect failure; route them to our logger once per outage.
  let isDown = false;
  redis.on("error", (error: unknown) => {
    if (isDown) return;
    isDown = true;
    log.warn({ role, err: errorMessage(error) }, "redis connection error");
  });
  redis.on("ready", () => {
    if (isDown) log.info({ role }, "redis connection restored");
    isDown = false;
  });
  return redis;
}

/**
 * Throws unless Redis's maxmemory-policy is `noeviction`: with any other policy Redis may
 * silently drop stream entries and BullMQ job keys under memory pressure. Falls back to
 * INFO when CONFIG is not permitted (managed Redis, ACL-restricted users).
 */
export async function assertNoEviction(redis: Redis): Promise<void> {
  let policy: string | undefined;
  try {
    const reply = (await redis.config("GET", "maxmemory-policy")) as string[];
    policy = reply[1];
  } catch {
    const info = await redis.info("memory");
    policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  }
  if (policy !== "noeviction") {
    throw new Error(
      `Redis maxmemory-policy is "${policy ?? "unknown"}" but Perseus requires "noeviction": ` +
        "an evicting Redis can lose events and jobs. Set `maxmemory-policy noeviction` in redis.conf.",
    );
  }
}
