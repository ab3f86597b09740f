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
import type { DispatchConfig } from "./config.js";
import { dispatchKeys } from "./lib/keys.js";
import { createDispatchMetrics } from "./metrics.js";
import { registerApprovalRoutes } from "./modules/approvals/approvals.routes.js";
import { createApprovalsService } from "./modules/approvals/approvals.service.js";
import { registerRobotPoll } from "./modules/gateway/poll.routes.js";
import { createPresence } from "./modules/gateway/presence.js";
import { registerPresenceRoutes } from "./modules/gateway/presence.routes.js";
import { registerRobotSocket } from "./modules/gateway/ws.routes.js";
import { registerTaskRoutes } from "./modules/tasks/tasks.routes.js";
import { createTasksService } from "./modules/tasks/tasks.service.js";
import { createTerminals } from "./modules/terminals/terminals.module.js";
import { createRuntime, type DispatchRuntime, policiesOf } from "./runtime.js";

export type DispatchDeps = {
  config: DispatchConfig;
  instanceId: string;
  version: string;
  db: Db;
  redis: Redis;
  /** Token verification keys (the auth service's JWKS). */
  keys: JWTVerifyGetKey;
  revocations: Revocations;
};

export const PREFIX = "/api/dispatch";

declare module "fastify" {
  interface FastifyInstance {
    /** The hub of robot connections and the background work (relay, consumer, jobs). */
    dispatch: DispatchRuntime;
  }
}

/** Builds the dispatch service. Never listens: server.ts (or a test) decides that. */
export async function buildApp(deps: DispatchDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = await createServiceApp({
    name: "dispatch",
    version: deps.version,
    prefix: PREFIX,
    description: "Tasks, queues, leases and the robot gateway",
    instanceId: deps.instanceId,
    logLevel: config.LOG_LEVEL,
    // A robot frame may be as large as the policy allows; the poll fallback carries them in a body.
    bodyLimit: Math.max(1_048_576, config.MAX_FRAME_BYTES + 4_096),
    checks: [
      { name: "postgres", check: () => deps.db.$client.query("select 1") },
      { name: "redis", check: () => deps.redis.ping() },
    ],
  });
  const verifier = createTokenVerifier({
    keys: deps.keys,
    issuer: config.AUTH_ISSUER,
    revocations: deps.revocations,
  });
  await app.register(authPlugin, { verifier, accept: ["user", "robot"] });

  const metrics = createDispatchMetrics(app.metrics);
  const runtime = createRuntime({
    config,
    instanceId: deps.instanceId,
    db: deps.db,
    log: app.log,
    revocations: deps.revocations,
    verifier,
    metrics,
  });
  app.decorate("dispatch", runtime);
  metrics.observe({
    sessions: () => runtime.hub.sessions.values(),
    queues: runtime.queues,
    pool: deps.db.$client,
    redis: deps.redis,
    prefix: config.REDIS_PREFIX,
  });
  const { gateway } = policiesOf(config);
  const approvals = createApprovalsService({ db: deps.db, waker: runtime.waker });
  const terminals = createTerminals(app, PREFIX, { config, db: deps.db, redis: deps.redis, runtime });
  const sessionDeps = {
    db: deps.db,
    policy: gateway,
    hub: runtime.hub,
    waker: runtime.waker,
    isStillValid: verifier.isStillValid,
    approvals,
    terminals: terminals.relay,
    metrics,
  };

  // Feature modules, registered explicitly.
  registerTaskRoutes(
    app,
    PREFIX,
    createTasksService({ db: deps.db, waker: runtime.waker, maxAttempts: config.TASK_MAX_ATTEMPTS }),
  );
  registerApprovalRoutes(app, PREFIX, approvals);
  registerPresenceRoutes(app, PREFIX, {
    db: deps.db,
    presence: createPresence({
      redis: deps.redis,
      keys: dispatchKeys(config.REDIS_PREFIX),
      staleMs: Math.max(15_000, config.HEARTBEAT_INTERVAL_MS * 3),
    }),
  });
  await registerRobotSocket(app, PREFIX, {
    hub: runtime.hub,
    sessionDeps,
    verifier,
    allowedOrigin: config.PUBLIC_ORIGIN,
  });
  registerRobotPoll(app, PREFIX, {
    hub: runtime.hub,
    sessionDeps,
    verifier,
    idleMs: config.POLL_SESSION_IDLE_MS,
  });
  // Live terminals: after the robot socket, which installs WebSocket support.
  terminals.registerRoutes();

  app.addHook("onReady", async () => runtime.start());
  app.addHook("onClose", async () => {
    approvals.stop();
    await runtime.stop();
  });

  registerInstance(app, {
    redis: deps.redis,
    prefix: config.REDIS_PREFIX,
    service: "dispatch",
    version: deps.version,
    instanceId: deps.instanceId,
    address: `${config.HOST}:${config.PORT}`,
  });
  return app;
}
