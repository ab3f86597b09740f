import rateLimit from "@fastify/rate-limit";
import { type AuthRoutes, authRoutes } from "@perseus/contracts";
import { type ApiKeyResolver, bearerToken, RateLimitedError, type TokenVerifier } from "@perseus/kit";
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from "fastify";
import type { Redis } from "ioredis";
import type { AuthConfig } from "../config.js";

export type RateLimitOptions = {
  /** A dedicated fail-fast connection (short command timeout, no offline queue). */
  redis: Redis;
  prefix: string;
  config: AuthConfig;
  verifier: TokenVerifier;
  apiKeys: ApiKeyResolver;
};

type KeyOf = (request: FastifyRequest) => Promise<string | undefined> | string | undefined;
type Limiter = (request: FastifyRequest) => Promise<void>;

/**
 * Rate limits counted in Redis with @fastify/rate-limit's store, so every replica shares
 * one counter. Fail open: when Redis errors or does not answer within
 * RATE_LIMIT_REDIS_TIMEOUT_MS the request goes on unlimited (account lockout lives in
 * Postgres and still applies). Several limits may apply to one route; each is checked.
 */
export async function registerRateLimits(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  const { config } = options;
  const timeWindow = config.RATE_LIMIT_WINDOW_SECONDS * 1000;
  await app.register(rateLimit, {
    global: false,
    redis: options.redis,
    nameSpace: `${options.prefix}:rl:`,
    skipOnError: true,
    timeWindow,
  });

  const limiter = (
    name: string,
    max: number | ((request: FastifyRequest) => Promise<number>),
    keyOf: KeyOf,
  ): Limiter => {
    const check = app.createRateLimit({
      timeWindow,
      max: typeof max === "number" ? max : (request) => max(request),
      keyGenerator: async (request) => `${name}:${(await keyOf(request)) ?? ""}`,
    });
    return async (request) => {
      if ((await keyOf(request)) === undefined) return;
      const result = await check(request);
      if (!result.isAllowed && result.isExceeded)
        throw new RateLimitedError(Math.max(1, result.ttlInSeconds));
    };
  };

  const byIp: KeyOf = (request) => request.ip;
  const byAccount: KeyOf = (request) => {
    const email = (request.body as { email?: unknown } | undefined)?.email;
    return typeof email === "string" ? email.toLowerCase() : undefined;
  };
  const apiKeyOf = (request: FastifyRequest) => {
    const key = request.headers["x-api-key"];
    return typeof key === "string" ? key : undefined;
  };
  const byApiKey: KeyOf = async (request) => {
    const key = apiKeyOf(request);
    if (!key) return undefined;
    const described = await options.apiKeys.describe(key).catch(() => undefined);
    return described?.actor.type === "api_key" ? described.actor.keyId : undefined;
  };
  const apiKeyMax = async (request: FastifyRequest) => {
    const key = apiKeyOf(request);
    const described = key ? await options.apiKeys.describe(key).catch(() => undefined) : undefined;
    return described?.rateLimit ?? 1;
  };
  // Verified tokens are cached by the verifier, so this costs a map lookup after the first request.
  const byPrincipal: KeyOf = async (request) => {
    if (apiKeyOf(request)) return undefined;
    const token = bearerToken(request.headers.authorization);
    if (!token) return undefined;
    const verified = await options.verifier.verify(token, ["user", "robot"]).catch(() => undefined);
    return verified ? `${verified.kind}:${verified.claims.sub}` : undefined;
  };

  const limits = {
    loginIp: limiter("login-ip", config.RATE_LIMIT_LOGIN_PER_IP, byIp),
    loginAccount: limiter("login-account", config.RATE_LIMIT_LOGIN_PER_ACCOUNT, byAccount),
    signupIp: limiter("signup-ip", config.RATE_LIMIT_SIGNUP_PER_IP, byIp),
    robotTokenIp: limiter("robot-token-ip", config.RATE_LIMIT_ROBOT_TOKEN_PER_IP, byIp),
    refreshIp: limiter("refresh-ip", config.RATE_LIMIT_PER_USER, byIp),
    apiKey: limiter("api-key", apiKeyMax, byApiKey),
    principal: limiter("principal", config.RATE_LIMIT_PER_USER, byPrincipal),
  };
  const publicLimits: Partial<Record<keyof AuthRoutes, Limiter[]>> = {
    login: [limits.loginIp, limits.loginAccount],
    signup: [limits.signupIp],
    acceptInviteSignup: [limits.signupIp],
    oidcCallback: [limits.loginIp],
    robotToken: [limits.robotTokenIp],
    refresh: [limits.refreshIp],
    logout: [limits.refreshIp],
  };

  // Attach the limits of each contract route as it is registered (matched by operationId).
  app.addHook("onRoute", (route) => {
    const name = (route.schema as { operationId?: string } | undefined)?.operationId as
      | keyof AuthRoutes
      | undefined;
    if (!name || !Object.hasOwn(authRoutes, name)) return;
    const applied =
      authRoutes[name].auth === "public" ? (publicLimits[name] ?? []) : [limits.apiKey, limits.principal];
    if (applied.length === 0) return;
    const hook: preHandlerAsyncHookHandler = async (request) => {
      for (const check of applied) await check(request);
    };
    const existing = route.preHandler;
    route.preHandler = existing ? [...(Array.isArray(existing) ? existing : [existing]), hook] : [hook];
  });
}
