import type { Redis } from "ioredis";

export type InstanceInfo = {
  service: string;
  version: string;
  instanceId: string;
  address: string;
  startedAt: string;
  lastSeenAt: string;
};

const registryKey = (prefix: string) => `${prefix}:{registry}:instances`;

/**
 * Announces this instance in Redis every `intervalMs`; an entry not refreshed within
 * `ttlMs` counts as gone. One hash (one hash slot) keeps reads a single command.
 */
export function startRegistryHeartbeat(options: {
  redis: Redis;
  prefix: string;
  info: Omit<InstanceInfo, "lastSeenAt">;
  intervalMs?: number;
  onError?: (error: unknown) => void;
}): { stop: () => Promise<void> } {
  const interval = options.intervalMs ?? 5_000;
  const beat = async () => {
    const entry: InstanceInfo = { ...options.info, lastSeenAt: new Date().toISOString() };
    await options.redis.hset(registryKey(options.prefix), options.info.instanceId, JSON.stringify(entry));
  };
  const run = () => beat().catch((error) => options.onError?.(error));
  void run();
  const timer = setInterval(run, interval);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await options.redis.hdel(registryKey(options.prefix), options.info.instanceId).catch(() => {});
    },
  };
}

/** Live instances (seen within `ttlMs`); stale entries are pruned as a side effect. */
export async function listInstances(redis: Redis, prefix: string, ttlMs = 15_000): Promise<InstanceInfo[]> {
  const entries = await redis.hgetall(registryKey(prefix));
  const now = Date.now();
  const live: InstanceInfo[] = [];
  const stale: string[] = [];
  for (const [id, raw] of Object.entries(entries)) {
    try {
      const info = JSON.parse(raw) as InstanceInfo;
      if (now - Date.parse(info.lastSeenAt) <= ttlMs) live.push(info);
      else stale.push(id);
    } catch {
      stale.push(id);
    }
  }
  if (stale.length) await redis.hdel(registryKey(prefix), ...stale).catch(() => {});
  return live.sort((a, b) => a.service.localeCompare(b.service) || a.instanceId.localeCompare(b.instanceId));
}
