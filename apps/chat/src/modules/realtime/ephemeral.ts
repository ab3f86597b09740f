import type { FastifyBaseLogger } from "fastify";
import type { Redis } from "ioredis";

/**
 * Signals that may be lost without harm (typing, read-marker moves, "presence changed"),
 * fanned out to every replica over Redis pub/sub. Durable things never travel here.
 */
export type EphemeralSignal =
  | { k: "typing"; t: string; c: string; u: string }
  | { k: "read"; t: string; c: string; u: string; s: number }
  | { k: "presence"; t: string; c: string };

export type EphemeralBus = {
  publish(signal: EphemeralSignal): void;
  start(): Promise<void>;
  stop(): Promise<void>;
};

export function createEphemeralBus(options: {
  redis: Redis;
  prefix: string;
  onSignal: (signal: EphemeralSignal) => void;
  log: FastifyBaseLogger;
}): EphemeralBus {
  const channel = `${options.prefix}:chat:ephemeral`;
  let subscriber: Redis | undefined;
  return {
    publish(signal) {
      options.redis.publish(channel, JSON.stringify(signal)).catch((error: Error) => {
        options.log.debug({ err: error.message }, "ephemeral signal not published");
      });
    },
    async start() {
      subscriber = options.redis.duplicate({ maxRetriesPerRequest: null, enableOfflineQueue: true });
      subscriber.on("error", () => {});
      subscriber.on("message", (_channel: string, raw: string) => {
        try {
          options.onSignal(JSON.parse(raw) as EphemeralSignal);
        } catch (error) {
          options.log.warn({ err: (error as Error).message }, "bad ephemeral signal");
        }
      });
      await subscriber.subscribe(channel);
    },
    async stop() {
      subscriber?.disconnect();
      subscriber = undefined;
    },
  };
}
