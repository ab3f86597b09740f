import { randomBytes } from "node:crypto";
import type { SessionResponse, SignupResponse } from "@perseus/contracts";
import { createRevocations, type Revocations } from "@perseus/kit";
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from "@perseus/testing";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { Redis } from "ioredis";
import { type AuthDeps, buildApp } from "../src/app.js";
import { type AuthConfig, loadConfig } from "../src/config.js";
import { REFRESH_COOKIE } from "../src/modules/sessions/sessions.routes.js";

export const API = "/api/auth";

/** Settings for tests: cheap argon2, keys active at once, the test's database and Redis namespace. */
export function testConfig(
  database: TestDatabase,
  redis: { url: string; prefix: string },
  env: Record<string, string> = {},
) {
  return loadConfig({
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: redis.prefix,
    AUTH_ARGON2_MEMORY_KIB: "1024",
    AUTH_ARGON2_PASSES: "1",
    AUTH_KEY_ACTIVATION_DELAY_SECONDS: "0",
    RATE_LIMIT_LOGIN_PER_IP: "1000",
    RATE_LIMIT_LOGIN_PER_ACCOUNT: "1000",
    RATE_LIMIT_SIGNUP_PER_IP: "1000",
    RATE_LIMIT_ROBOT_TOKEN_PER_IP: "1000",
    ...env,
  });
}

export type Harness = {
  app: FastifyInstance;
  database: TestDatabase;
  redis: TestRedis;
  config: AuthConfig;
  revocations: Revocations;
  /** Another app instance on the same database and Redis (a second replica). */
  replica(env?: Record<string, string>): Promise<FastifyInstance>;
  close(): Promise<void>;
};

/** One auth app per test file, on a fresh database and a private Redis namespace. */
export async function createHarness(
  env: Record<string, string> = {},
  extra: Partial<Pick<AuthDeps, "rateLimitRedis" | "onRoute">> & { redisUrl?: string } = {},
): Promise<Harness> {
  const database = await createTestDatabase({ poolSize: 8 });
  const redis = await createTestRedis();
  const apps: FastifyInstance[] = [];
  const closers: (() => Promise<void>)[] = [];
  const build = async (extraEnv: Record<string, string> = {}) => {
    const client = extra.redisUrl
      ? new Redis(extra.redisUrl, { maxRetriesPerRequest: 1, commandTimeout: 1000 })
      : redis.client.duplicate();
    client.on("error", () => {});
    const revocations = await createRevocations(client, redis.prefix);
    const config = testConfig(
      database,
      { url: extra.redisUrl ?? redis.url, prefix: redis.prefix },
      { ...env, ...extraEnv },
    );
    const app = await buildApp({
      config,
      instanceId: `auth-test-${randomBytes(3).toString("hex")}`,
      version: "test",
      db: database.db,
      redis: client,
      ...(extra.rateLimitRedis ? { rateLimitRedis: extra.rateLimitRedis } : {}),
      ...(extra.onRoute && apps.length === 0 ? { onRoute: extra.onRoute } : {}),
      revocations,
    });
    apps.push(app);
    closers.push(async () => {
      await revocations.close();
      client.disconnect();
    });
    return { app, config, revocations };
  };
  const first = await build();
  return {
    app: first.app,
    database,
    redis,
    config: first.config,
    revocations: first.revocations,
    replica: async (extraEnv) => (await build(extraEnv)).app,
    close: async () => {
      for (const app of apps) await app.close();
      for (const close of closers) await close();
      await redis.cleanup();
      await database.drop();
    },
  };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The refresh cookie's value from a response, if it set one. */
export function refreshCookieOf(response: LightMyRequestResponse): string | undefined {
  const cookie = response.cookies.find((c) => c.name === REFRESH_COOKIE);
  return cookie?.value || undefined;
}

export const cookieHeader = (value: string) => ({ cookie: `${REFRESH_COOKIE}=${value}` });

let counter = 0;
export function uniqueTag() {
  counter += 1;
  return `${randomBytes(3).toString("hex")}${counter}`;
}

export const PASSWORD = "correct horse battery staple";

/** Signs up a fresh tenant through the API; answers its owner's session and refresh cookie. */
export async function signup(app: FastifyInstance, overrides: Partial<Record<string, string>> = {}) {
  const tag = uniqueTag();
  const body = {
    email: `owner-${tag}@example.test`,
    password: PASSWORD,
    name: `Owner ${tag}`,
    handle: `owner${tag}`,
    tenantName: `Tenant ${tag}`,
    ...overrides,
  };
  const response = await app.inject({ method: "POST", url: `${API}/signup`, payload: body });
  if (response.statusCode !== 201) throw new Error(`signup failed: ${response.statusCode} ${response.body}`);
  const session = response.json() as SignupResponse;
  return { session, body, refresh: refreshCookieOf(response) as string, token: session.accessToken };
}

export async function login(app: FastifyInstance, email: string, password = PASSWORD, tenantId?: string) {
  const response = await app.inject({
    method: "POST",
    url: `${API}/login`,
    payload: { email, password, ...(tenantId ? { tenantId } : {}) },
  });
  return {
    response,
    session: response.statusCode === 200 ? (response.json() as SessionResponse) : undefined,
  };
}

/**
 * A tenant with an owner, an admin and a user (invited through the API), each with a
 * session. Useful for RBAC and isolation tests.
 */
export async function seedTenant(app: FastifyInstance) {
  const owner = await signup(app);
  const join = async (role: "admin" | "user") => {
    const invite = await app.inject({
      method: "POST",
      url: `${API}/invites`,
      headers: bearer(owner.token),
      payload: { role },
    });
    if (invite.statusCode !== 201) throw new Error(`invite failed: ${invite.body}`);
    const tag = uniqueTag();
    const email = `${role}-${tag}@example.test`;
    const accepted = await app.inject({
      method: "POST",
      url: `${API}/invites/accept-signup`,
      payload: {
        token: invite.json().token,
        email,
        password: PASSWORD,
        name: `${role} ${tag}`,
        handle: `${role}${tag}`,
      },
    });
    if (accepted.statusCode !== 201) throw new Error(`accept failed: ${accepted.body}`);
    const session = accepted.json() as SessionResponse;
    return { session, token: session.accessToken, email, refresh: refreshCookieOf(accepted) as string };
  };
  const admin = await join("admin");
  const user = await join("user");
  return {
    tenantId: owner.session.tenant.id,
    teamId: owner.session.teamId,
    chatgroupId: owner.session.chatgroupId,
    owner: { session: owner.session, token: owner.token, email: owner.body.email, refresh: owner.refresh },
    admin,
    user,
  };
}
export type SeededTenant = Awaited<ReturnType<typeof seedTenant>>;

/** Creates a robot and a credential through the API; answers its token too. */
export async function seedRobot(app: FastifyInstance, ownerToken: string, handle = `bot${uniqueTag()}`) {
  const created = await app.inject({
    method: "POST",
    url: `${API}/robots`,
    headers: bearer(ownerToken),
    payload: { handle, name: `Robot ${handle}` },
  });
  if (created.statusCode !== 201) throw new Error(`robot failed: ${created.body}`);
  const robot = created.json();
  const credential = await app.inject({
    method: "POST",
    url: `${API}/robots/${robot.id}/credentials`,
    headers: bearer(ownerToken),
  });
  const secret = credential.json().secret as string;
  const token = await app.inject({
    method: "POST",
    url: `${API}/robots/token`,
    payload: { credential: secret },
  });
  if (token.statusCode !== 200) throw new Error(`robot token failed: ${token.body}`);
  return {
    robot,
    credentialId: credential.json().credential.id as string,
    secret,
    token: token.json().accessToken as string,
  };
}
