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
import { createTaskTokenResolver } from "./auth/task-token.js";
import type { WorkspaceConfig } from "./config.js";
import { createFilesWriter } from "./modules/files/files.mutations.js";
import { filesRoutes } from "./modules/files/files.routes.js";
import { createFilesReader } from "./modules/files/files.service.js";
import { createTranscriptConsumer } from "./modules/transcripts/transcripts.consumer.js";
import type { StorageDriver } from "./storage/driver.js";

export type WorkspaceDeps = {
  config: WorkspaceConfig;
  instanceId: string;
  version: string;
  db: Db;
  redis: Redis;
  /** Token verification keys (the auth service's JWKS). */
  keys: JWTVerifyGetKey;
  revocations: Revocations;
  /** Where file bytes live (local disk or S3-compatible). */
  storage: StorageDriver;
};

export const PREFIX = "/api/workspace";

/** Builds the workspace service. Never listens: server.ts (or a test) decides that. */
export async function buildApp(deps: WorkspaceDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = await createServiceApp({
    name: "workspace",
    version: deps.version,
    prefix: PREFIX,
    description: "Files in tenant, team and chatgroup layers, with versions and ETags",
    instanceId: deps.instanceId,
    logLevel: config.LOG_LEVEL,
    checks: [
      { name: "postgres", check: () => deps.db.$client.query("select 1") },
      { name: "redis", check: () => deps.redis.ping() },
      { name: "storage", check: () => deps.storage.check() },
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
    resolveTaskToken: createTaskTokenResolver(deps.db),
  });

  // Feature modules are registered here, explicitly.
  const filesDeps = {
    db: deps.db,
    storage: deps.storage,
    log: app.log,
    limits: {
      maxFileBytes: config.WORKSPACE_MAX_FILE_BYTES,
      defaultQuotaBytes: config.WORKSPACE_TENANT_QUOTA_BYTES,
      maxVersions: config.WORKSPACE_MAX_VERSIONS,
      listLimit: config.WORKSPACE_LIST_LIMIT,
      uploadIdleTimeoutMs: config.WORKSPACE_UPLOAD_IDLE_TIMEOUT_MS,
      uploadTotalTimeoutMs: config.WORKSPACE_UPLOAD_TIMEOUT_MS,
    },
  };
  await app.register(filesRoutes, {
    basePath: PREFIX,
    reader: createFilesReader(filesDeps),
    writer: createFilesWriter(filesDeps),
    storage: deps.storage,
  });

  // Transcripts of recorded terminal sessions (dispatch publishes them as a session closes).
  const transcripts = createTranscriptConsumer({
    db: deps.db,
    redis: deps.redis,
    prefix: config.REDIS_PREFIX,
    instanceId: deps.instanceId,
    writer: createFilesWriter(filesDeps),
    log: {
      info: (fields, message) => app.log.info(fields, message),
      warn: (fields, message) => app.log.warn(fields, message),
      error: (fields, message) => app.log.error(fields, message),
    },
  });
  app.addHook("onReady", async () => transcripts.start());
  app.addHook("onClose", async () => transcripts.stop());

  registerInstance(app, {
    redis: deps.redis,
    prefix: config.REDIS_PREFIX,
    service: "workspace",
    version: deps.version,
    instanceId: deps.instanceId,
    address: `${config.HOST}:${config.PORT}`,
  });
  return app;
}
