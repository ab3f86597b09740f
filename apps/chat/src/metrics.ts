import type { DeadLetterInfo } from "@perseus/bus";
import type { Db } from "@perseus/db";
import {
  createDeadLetterCounter,
  defineGauge,
  type Registry,
  registerOutboxMetrics,
  registerStreamMetrics,
} from "@perseus/kit";
import type { Redis } from "ioredis";
import { REPLIES_GROUP } from "./modules/replies/replies.consumer.js";

/**
 * The chat service's own metrics: open realtime sockets of this replica (read from the hub
 * at scrape time, nothing counted per frame), the replies consumer's lag and dead letters,
 * and the backlog of the `chat` topic in the outbox.
 */
export function registerChatMetrics(
  registry: Registry,
  sources: {
    realtime: { connections: ReadonlySet<{ subs: ReadonlyMap<string, unknown> }> };
    pool: Db["$client"];
    redis: Redis;
    prefix: string;
  },
): { onDeadLetter: (info: DeadLetterInfo) => void } {
  defineGauge(registry, {
    name: "perseus_chat_realtime_connections",
    help: "Browser realtime WebSocket connections open on this replica",
    collect: (gauge) => gauge.set(sources.realtime.connections.size),
  });
  defineGauge(registry, {
    name: "perseus_chat_realtime_subscriptions",
    help: "Chatgroup subscriptions of the realtime connections on this replica",
    collect(gauge) {
      let subscriptions = 0;
      for (const connection of sources.realtime.connections) subscriptions += connection.subs.size;
      gauge.set(subscriptions);
    },
  });
  registerStreamMetrics(registry, {
    redis: sources.redis,
    prefix: sources.prefix,
    consumed: [{ topic: "task", group: REPLIES_GROUP }],
  });
  registerOutboxMetrics(registry, { pool: sources.pool, topics: ["chat"] });
  return { onDeadLetter: createDeadLetterCounter(registry) };
}
