import type { RobotPresence, RobotPresenceEvent, RobotPresenceState } from "@perseus/contracts";
import type { Redis } from "ioredis";
import type { DispatchKeys } from "../../lib/keys.js";

/** One connection as recorded in the tenant's presence hash. */
export type ConnectionPresence = {
  robotId: string;
  connectionId: string;
  instanceId: string;
  openedAt: number;
  seenAt: number;
  capacity: number;
  active: number;
  /** The connected robot offers live terminals (its hello named the `terminal` capability). */
  terminal?: boolean;
};

const field = (robotId: string, connectionId: string) => `${robotId}|${connectionId}`;

/**
 * Robot presence in Redis: each replica writes its own connections and refreshes them;
 * an entry not refreshed within `staleMs` (its replica died) counts as gone and is pruned.
 * Presence is advisory (shown in the console and chat); assignment never relies on it.
 */
export function createPresence(options: { redis: Redis; keys: DispatchKeys; staleMs: number }) {
  const { redis, keys } = options;
  const lastState = new Map<string, RobotPresenceState>();

  async function read(tenantId: string): Promise<ConnectionPresence[]> {
    const entries = await redis.hgetall(keys.presence(tenantId));
    const now = Date.now();
    const live: ConnectionPresence[] = [];
    const stale: string[] = [];
    for (const [name, raw] of Object.entries(entries)) {
      try {
        const entry = JSON.parse(raw) as ConnectionPresence;
        if (now - entry.seenAt <= options.staleMs) live.push(entry);
        else stale.push(name);
      } catch {
        stale.push(name);
      }
    }
    if (stale.length) await redis.hdel(keys.presence(tenantId), ...stale);
    return live;
  }

  function summarize(robotId: string, entries: ConnectionPresence[]): RobotPresence {
    const mine = entries.filter((entry) => entry.robotId === robotId);
    const capacity = mine.reduce((sum, entry) => sum + entry.capacity, 0);
    const active = mine.reduce((sum, entry) => sum + entry.active, 0);
    const state: RobotPresenceState = mine.length === 0 ? "offline" : active >= capacity ? "busy" : "online";
    const lastSeen = Math.max(0, ...mine.map((entry) => entry.seenAt));
    return {
      robotId,
      state,
      connections: mine.length,
      activeTasks: active,
      capacity,
      lastSeenAt: lastSeen ? new Date(lastSeen).toISOString() : null,
    };
  }

  /** Announces a robot's state when it differs from what this replica announced last. */
  async function announce(tenantId: string, robotId: string) {
    const state = summarize(robotId, await read(tenantId)).state;
    const key = `${tenantId}|${robotId}`;
    if (lastState.get(key) === state) return;
    if (state === "offline") lastState.delete(key);
    else lastState.set(key, state);
    const event: RobotPresenceEvent = { tenantId, robotId, state };
    await redis.publish(keys.presenceChannel, JSON.stringify(event));
  }

  return {
    async put(tenantId: string, entry: ConnectionPresence) {
      await redis.hset(
        keys.presence(tenantId),
        field(entry.robotId, entry.connectionId),
        JSON.stringify(entry),
      );
      await announce(tenantId, entry.robotId);
    },
    async remove(tenantId: string, robotId: string, connectionId: string) {
      await redis.hdel(keys.presence(tenantId), field(robotId, connectionId));
      await announce(tenantId, robotId);
    },
    /** Refreshes many entries at once (the periodic beat); no announcements. */
    async refresh(entries: { tenantId: string; entry: ConnectionPresence }[]) {
      if (entries.length === 0) return;
      const pipeline = redis.pipeline();
      for (const { tenantId, entry } of entries) {
        pipeline.hset(
          keys.presence(tenantId),
          field(entry.robotId, entry.connectionId),
          JSON.stringify(entry),
        );
      }
      await pipeline.exec();
    },
    /** Presence of the given robots (offline when no live connection). */
    async list(tenantId: string, robotIds: readonly string[]): Promise<RobotPresence[]> {
      const entries = await read(tenantId);
      return robotIds.map((robotId) => summarize(robotId, entries));
    },
    /** Live connections of one robot, oldest first (to enforce the per-robot connection limit). */
    async connectionsOf(tenantId: string, robotId: string): Promise<ConnectionPresence[]> {
      return (await read(tenantId))
        .filter((entry) => entry.robotId === robotId)
        .sort((a, b) => a.openedAt - b.openedAt);
    },
  };
}
export type Presence = ReturnType<typeof createPresence>;
