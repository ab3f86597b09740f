import { createOutboxRelay, createRedisConnection } from "@perseus/bus";
import { assertRlsEnforced, createDb, createPool, type Db } from "@perseus/db";
import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import type pg from "pg";
import { createRevocations, type Revocations } from "./auth/revocations.js";
import type { BaseConfig } from "./config.js";
import { startRegistryHeartbeat } from "./registry.js";
import { defaultInstanceId } from "./service.js";

export type ServiceResources = {
  instanceId: string;
  pool: pg.Pool;
  db: Db;
  /** A fail-fast command connection: an API answers 503 instead of hanging when Redis is down. */
  redis: Redis;
  revocations: Revocations;
  /** Starts the outbox relay when the app is ready and closes everything when the app closes. */
  attach: (app: FastifyInstance) => void;
};

/** Prints why a service cannot start and exits: the one place a service process gives up. */
export function exitWith(service: string, error: unknown): never {
  console.error(`[${service}] ${(error as Error).message}`);
  process.exit(1);
}

/**
 * What every service process opens at start: the Postgres pool (refusing a role that
 * bypasses row-level security), Redis, the revocation mirror and, unless disabled, an
 * outbox relay (any replica of any service may relay; one publishes at a time).
 */
export async function openServiceResources(
  service: string,
  config: BaseConfig,
  options: { outboxRelay?: boolean } = {},
): Promise<ServiceResources> {
  const instanceId = config.INSTANCE_ID ?? defaultInstanceId(service);
  const pool = createPool({
    url: config.DATABASE_URL,
    max: config.DATABASE_POOL_SIZE,
    applicationName: `perseus-${service}`,
  });
  try {
    await assertRlsEnforced(pool);
  } catch (error) {
    await pool.end();
    exitWith(service, error);
  }
  const redis = createRedisConnection(config.REDIS_URL, "command");
  const revocations = await createRevocations(redis, config.REDIS_PREFIX);
  const relay =
    options.outboxRelay === false
      ? undefined
      : createOutboxRelay({ pool, redis, prefix: config.REDIS_PREFIX });
  return {
    instanceId,
    pool,
    db: createDb(pool),
    redis,
    revocations,
    attach: (app) => {
      app.addHook("onReady", async () => relay?.start());
      app.addHook("onClose", async () => {
        await relay?.stop();
        await revocations.close();
        redis.disconnect();
        await pool.end();
      });
    },
  };
}

/** Announces the instance in the service registry while the app runs. */
export function registerInstance(
  app: FastifyInstance,
  options: {
    redis: Redis;
    prefix: string;
    service: string;
    version: string;
    instanceId: string;
    address: string;
  },
): void {
  const heartbeat = startRegistryHeartbeat({
    redis: options.redis,
    prefix: options.prefix,
    info: {
      service: options.service,
      version: options.version,
      instanceId: options.instanceId,
      address: options.address,
      startedAt: new Date().toISOString(),
    },
    onError: (error) => app.log.warn({ err: error }, "service registry heartbeat failed"),
  });
  app.addHook("onClose", () => heartbeat.stop());
}
