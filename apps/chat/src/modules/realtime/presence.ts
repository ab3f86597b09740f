import type { FastifyBaseLogger } from "fastify";
import type { Redis } from "ioredis";
import type { EphemeralBus } from "./ephemeral.js";

/**
 * Who is online in a chatgroup, across replicas: one sorted set per chatgroup whose
 * members are `user/instance` scored by expiry. Each replica refreshes its own members
 * on a heartbeat, so a crashed replica's users drop out within the TTL.
 */
export function createPresence(options: {
  redis: Redis;
  prefix: string;
  instanceId: string;
  bus: EphemeralBus;
  log: FastifyBaseLogger;
  ttlMs?: number;
}) {
  const { redis, prefix, instanceId, bus, log } = options;
  const ttlMs = options.ttlMs ?? 30_000;
  /** roomKey (tenant:chatgroup) → userId → open local subscriptions. */
  const local = new Map<string, Map<string, number>>();
  let timer: NodeJS.Timeout | undefined;

  const keyOf = (tenantId: string, chatgroupId: string) =>
    `${prefix}:chat:{${tenantId}}:presence:${chatgroupId}`;
  const memberOf = (userId: string) => `${userId}/${instanceId}`;
  const split = (roomKey: string) => {
    const [tenantId = "", chatgroupId = ""] = roomKey.split(":");
    return { tenantId, chatgroupId };
  };
  const fail = (error: Error) => log.debug({ err: error.message }, "presence update failed");

  async function heartbeat() {
    if (local.size === 0) return;
    const now = Date.now();
    const pipeline = redis.pipeline();
    const rooms = [...local.entries()];
    for (const [roomKey, users] of rooms) {
      const { tenantId, chatgroupId } = split(roomKey);
      const key = keyOf(tenantId, chatgroupId);
      for (const userId of users.keys()) pipeline.zadd(key, now + ttlMs, memberOf(userId));
      pipeline.zremrangebyscore(key, "-inf", now);
      pipeline.pexpire(key, ttlMs * 2);
    }
    const results = (await pipeline.exec()) ?? [];
    // Every room contributes its zadds, then a zremrangebyscore and a pexpire.
    let index = 0;
    for (const [roomKey, users] of rooms) {
      index += users.size;
      const removed = Number(results[index]?.[1] ?? 0);
      index += 2;
      if (removed > 0) {
        const { tenantId, chatgroupId } = split(roomKey);
        bus.publish({ k: "presence", t: tenantId, c: chatgroupId });
      }
    }
  }

  return {
    join(tenantId: string, chatgroupId: string, userId: string) {
      const roomKey = `${tenantId}:${chatgroupId}`;
      let users = local.get(roomKey);
      if (!users) {
        users = new Map();
        local.set(roomKey, users);
      }
      const count = (users.get(userId) ?? 0) + 1;
      users.set(userId, count);
      if (count > 1) return;
      const key = keyOf(tenantId, chatgroupId);
      redis
        .multi()
        .zadd(key, Date.now() + ttlMs, memberOf(userId))
        .pexpire(key, ttlMs * 2)
        .exec()
        .then(() => bus.publish({ k: "presence", t: tenantId, c: chatgroupId }), fail);
    },
    leave(tenantId: string, chatgroupId: string, userId: string) {
      const roomKey = `${tenantId}:${chatgroupId}`;
      const users = local.get(roomKey);
      const count = (users?.get(userId) ?? 0) - 1;
      if (!users || count > 0) {
        users?.set(userId, count);
        return;
      }
      users.delete(userId);
      if (users.size === 0) local.delete(roomKey);
      redis
        .zrem(keyOf(tenantId, chatgroupId), memberOf(userId))
        .then(() => bus.publish({ k: "presence", t: tenantId, c: chatgroupId }), fail);
    },
    /** Distinct users online in the chatgroup on any replica. */
    async read(tenantId: string, chatgroupId: string): Promise<string[]> {
      const members = await redis.zrangebyscore(keyOf(tenantId, chatgroupId), Date.now(), "+inf");
      return [...new Set(members.map((member) => member.slice(0, member.indexOf("/"))))].sort();
    },
    start() {
      timer = setInterval(() => void heartbeat().catch(fail), Math.max(1_000, Math.floor(ttlMs / 3)));
      timer.unref();
    },
    /** Removes this replica's members at once (graceful stop) instead of waiting for the TTL. */
    async stop() {
      clearInterval(timer);
      const pipeline = redis.pipeline();
      const rooms = [...local.entries()];
      for (const [roomKey, users] of rooms) {
        const { tenantId, chatgroupId } = split(roomKey);
        for (const userId of users.keys()) pipeline.zrem(keyOf(tenantId, chatgroupId), memberOf(userId));
      }
      local.clear();
      await pipeline.exec().catch(() => {});
      for (const [roomKey] of rooms) {
        const { tenantId, chatgroupId } = split(roomKey);
        bus.publish({ k: "presence", t: tenantId, c: chatgroupId });
      }
    },
  };
}
export type Presence = ReturnType<typeof createPresence>;
