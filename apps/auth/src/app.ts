import cookie from "@fastify/cookie";
import type { Db } from "@perseus/db";
import {
  authPlugin,
  createApiKeyResolver,
  createServiceApp,
  createTokenVerifier,
  publishRevocation,
  type Revocations,
  registerInstance,
} from "@perseus/kit";
import type { FastifyBaseLogger, FastifyInstance, RouteOptions } from "fastify";
import type { Redis } from "ioredis";
import type { AuthConfig } from "./config.js";
import type { Services } from "./deps.js";
import { createKeyStore, type KeyStore } from "./keys/key-store.js";
import { createPasswordHasher } from "./lib/passwords.js";
import { createTokenIssuer } from "./lib/tokens.js";
import { registerAuthMetrics } from "./metrics.js";
import { apiKeysHandlers } from "./modules/api-keys/api-keys.routes.js";
import { createApiKeysService } from "./modules/api-keys/api-keys.service.js";
import { auditHandlers } from "./modules/audit/audit.routes.js";
import { keysHandlers } from "./modules/keys/keys.routes.js";
import { oidcHandlers } from "./modules/oidc/oidc.routes.js";
import { createOidcService } from "./modules/oidc/oidc.service.js";
import { robotsHandlers } from "./modules/robots/robots.routes.js";
import { createRobotsService } from "./modules/robots/robots.service.js";
import { sessionsHandlers } from "./modules/sessions/sessions.routes.js";
import { createSessionsService } from "./modules/sessions/sessions.service.js";
import { systemHandlers } from "./modules/system/system.routes.js";
import { createGroupsService } from "./modules/tenancy/groups.service.js";
import { createInvitesService } from "./modules/tenancy/invites.service.js";
import { createMembersService } from "./modules/tenancy/members.service.js";
import { tenancyHandlers } from "./modules/tenancy/tenancy.routes.js";
import { registerRateLimits } from "./plugins/rate-limits.js";
import { PREFIX, registerAuthRoutes } from "./routes.js";

export { PREFIX } from "./routes.js";

export type AuthDeps = {
  config: AuthConfig;
  instanceId: string;
  version: string;
  db: Db;
  /** Commands and revocation publishing. */
  redis: Redis;
  /** Rate-limit counters: a fail-fast connection (see server.ts); defaults to `redis`. */
  rateLimitRedis?: Redis;
  revocations: Revocations;
  /** A shared key store (tests); by default one is opened on the database. */
  keys?: KeyStore;
  logger?: FastifyBaseLogger;
  /** Sees every route as it is registered (tests enumerate the whole API surface with it). */
  onRoute?: (route: RouteOptions) => void;
};

/** Builds the auth service. Never listens: server.ts (or a test) decides that. */
export async function buildApp(deps: AuthDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = await createServiceApp({
    name: "auth",
    version: deps.version,
    prefix: PREFIX,
    description:
      "Identity and tenancy: tenants, teams, chatgroups, people, roles, robots, tokens, API keys, audit",
    instanceId: deps.instanceId,
    logLevel: config.LOG_LEVEL,
    ...(deps.logger ? { logger: deps.logger } : {}),
    checks: [
      { name: "postgres", check: () => deps.db.$client.query("select 1") },
      { name: "redis", check: () => deps.redis.ping() },
    ],
  });
  registerAuthMetrics(app.metrics, { pool: deps.db.$client });
  if (deps.onRoute) {
    const onRoute = deps.onRoute;
    app.addHook("onRoute", (route) => onRoute(route));
  }
  await app.register(cookie);

  // The auth service verifies its own tokens straight from its key store, not over HTTP.
  const keys =
    deps.keys ??
    (await createKeyStore({
      db: deps.db,
      secret: config.AUTH_KEY_SECRET,
      maxTokenTtlSeconds: Math.max(config.AUTH_ACCESS_TTL_SECONDS, config.AUTH_ROBOT_TOKEN_TTL_SECONDS),
      activationDelaySeconds: config.AUTH_KEY_ACTIVATION_DELAY_SECONDS,
    }));
  if (!deps.keys) app.addHook("onClose", async () => keys.close());
  const verifier = createTokenVerifier({
    keys: keys.getKey,
    issuer: config.AUTH_ISSUER,
    revocations: deps.revocations,
  });
  const apiKeys = createApiKeyResolver({ db: deps.db, revocations: deps.revocations });
  await app.register(authPlugin, { verifier, accept: ["user", "robot"], resolveApiKey: apiKeys });
  await registerRateLimits(app, {
    redis: deps.rateLimitRedis ?? deps.redis,
    prefix: config.REDIS_PREFIX,
    config,
    verifier,
    apiKeys,
  });

  const services: Services = {
    config,
    db: deps.db,
    redis: deps.redis,
    keys,
    tokens: createTokenIssuer({
      keys,
      issuer: config.AUTH_ISSUER,
      userTtlSeconds: config.AUTH_ACCESS_TTL_SECONDS,
      robotTtlSeconds: config.AUTH_ROBOT_TOKEN_TTL_SECONDS,
    }),
    passwords: await createPasswordHasher({
      memoryKib: config.AUTH_ARGON2_MEMORY_KIB,
      passes: config.AUTH_ARGON2_PASSES,
    }),
    revoke: (kind, id, atMs) => publishRevocation(deps.redis, config.REDIS_PREFIX, kind, id, atMs),
  };
  const sessions = createSessionsService(services);
  const tenancy = {
    members: createMembersService(services),
    groups: createGroupsService(services),
    invites: createInvitesService(services),
  };

  const oidc =
    config.AUTH_OIDC_ISSUER && config.AUTH_OIDC_CLIENT_ID
      ? createOidcService(services, sessions, {
          issuer: config.AUTH_OIDC_ISSUER,
          clientId: config.AUTH_OIDC_CLIENT_ID,
          clientSecret: config.AUTH_OIDC_CLIENT_SECRET,
          redirectUri: config.AUTH_OIDC_REDIRECT_URI ?? `${config.PUBLIC_ORIGIN}${PREFIX}/oidc/callback`,
        })
      : null;

  // Feature modules, registered explicitly; every route goes through the RBAC table.
  registerAuthRoutes(app, {
    ...keysHandlers({ db: deps.db, keys, config }),
    ...sessionsHandlers(sessions, config),
    ...oidcHandlers(oidc, config),
    ...tenancyHandlers({ ...tenancy, sessions, config }),
    ...robotsHandlers(createRobotsService(services)),
    ...apiKeysHandlers(createApiKeysService({ ...services, onRevoked: (id) => apiKeys.invalidate(id) })),
    ...auditHandlers({ db: deps.db }),
    ...systemHandlers({ redis: deps.redis, prefix: config.REDIS_PREFIX }),
  });

  registerInstance(app, {
    redis: deps.redis,
    prefix: config.REDIS_PREFIX,
    service: "auth",
    version: deps.version,
    instanceId: deps.instanceId,
    address: `${config.HOST}:${config.PORT}`,
  });
  return app;
}
