import type { Db } from "@perseus/db";
import {
  authPlugin,
  createServiceApp,
  createTokenVerifier,
  type Revocations,
  registerInstance,
} from "@perseus/kit";
import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import type { JWTVerifyGetKey } from "jose";
import type { ChatConfig } from "./config.js";
import { createTaskTokenResolver } from "./lib/task-token.js";
import { registerChatMetrics } from "./metrics.js";
import { registerHistoryRoutes } from "./modules/history/history.routes.js";
import { createHistoryService } from "./modules/history/history.service.js";
import { registerMessageRoutes } from "./modules/messages/messages.routes.js";
import { createMessagesService } from "./modules/messages/messages.service.js";
import { registerRealtime } from "./modules/realtime/realtime.module.js";
import { createRepliesConsumer } from "./modules/replies/replies.consumer.js";

export type ChatDeps = {
  config: ChatConfig;
  instanceId: string;
  version: string;
  db: Db;
  redis: Redis;
  /** Token verification keys (the auth service's JWKS). */
  keys: JWTVerifyGetKey;
  revocations: Revocations;
};

export const PREFIX = "/api/chat";

declare module "fastify" {
  interface FastifyInstance {
    /** Resolves once the realtime stream tails are positioned (tests wait for it). */
    chatRealtimeReady: Promise<unknown>;
  }
}

/** Builds the chat service. Never listens: server.ts (or a test) decides that. */
export async function buildApp(deps: ChatDeps): Promise<FastifyInstance> {
  const { config, db, redis } = deps;
  const app = await createServiceApp({
    name: "chat",
    version: deps.version,
    prefix: PREFIX,
    description: "Messages, mentions, history and the realtime hub",
    instanceId: deps.instanceId,
    logLevel: config.LOG_LEVEL,
    checks: [
      { name: "postgres", check: () => db.$client.query("select 1") },
      { name: "redis", check: () => redis.ping() },
    ],
  });
  const verifier = createTokenVerifier({
    keys: deps.keys,
    issuer: config.AUTH_ISSUER,
    revocations: deps.revocations,
  });
  await app.register(authPlugin, {
    verifier,
    accept: ["user", "robot"],
    resolveTaskToken: createTaskTokenResolver(db),
  });

  // Feature modules, registered explicitly.
  const messages = createMessagesService({ db, maxMessageBytes: config.CHAT_MAX_MESSAGE_BYTES });
  registerMessageRoutes(app, PREFIX, messages);

  const history = createHistoryService({ db, onReadMarker: (marker) => realtime.publishReadMarker(marker) });
  registerHistoryRoutes(app, PREFIX, history);

  const realtime = await registerRealtime(app, {
    prefix: PREFIX,
    db,
    redis,
    config,
    instanceId: deps.instanceId,
    revocations: deps.revocations,
    markRead: async (session, chatgroupId, seq) => {
      const { userId, tenantId, role } = session;
      const actor = {
        type: "user" as const,
        userId,
        tenantId,
        role,
        sessionId: session.sessionId ?? undefined,
      };
      const marker = await history.markRead({ tenantId: session.tenantId, actor }, chatgroupId, seq);
      return marker.lastReadSeq;
    },
  });
  app.decorate("chatRealtimeReady", realtime.ready);
  const metrics = registerChatMetrics(app.metrics, {
    realtime: realtime.hub,
    pool: db.$client,
    redis,
    prefix: config.REDIS_PREFIX,
  });

  const replies = createRepliesConsumer({
    db,
    redis,
    prefix: config.REDIS_PREFIX,
    instanceId: deps.instanceId,
    maxBytes: config.CHAT_MAX_MESSAGE_BYTES,
    onDeadLetter: metrics.onDeadLetter,
    log: {
      info: (fields, message) => app.log.info(fields, message),
      warn: (fields, message) => app.log.warn(fields, message),
      error: (fields, message) => app.log.error(fields, message),
    },
  });
  app.addHook("onReady", async () => replies.start());
  app.addHook("onClose", async () => replies.stop());

  registerInstance(app, {
    redis: redis,
    prefix: config.REDIS_PREFIX,
    service: "chat",
    version: deps.version,
    instanceId: deps.instanceId,
    address: `${config.HOST}:${config.PORT}`,
  });
  return app;
}
