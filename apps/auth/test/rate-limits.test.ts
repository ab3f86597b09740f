import { type PrivateRedis, startRedisServer } from "@perseus/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  API,
  bearer,
  createHarness,
  type Harness,
  type SeededTenant,
  seedRobot,
  seedTenant,
} from "./helper.js";

// T9: limits counted in Redis (exact under a burst), and the documented fail-open behaviour
// when the rate-limit Redis is paused or gone: no request waits past the Redis timeout.
const REDIS_TIMEOUT_MS = 250;
let h: Harness;
let server: PrivateRedis;
let limiterRedis: Redis;
let t: SeededTenant;

beforeAll(async () => {
  server = await startRedisServer();
  limiterRedis = new Redis(server.url, {
    commandTimeout: REDIS_TIMEOUT_MS,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 200,
  });
  limiterRedis.on("error", () => {});
  h = await createHarness(
    { RATE_LIMIT_LOGIN_PER_ACCOUNT: "3", RATE_LIMIT_ROBOT_TOKEN_PER_IP: "6", RATE_LIMIT_PER_USER: "60" },
    { rateLimitRedis: limiterRedis },
  );
  t = await seedTenant(h.app);
});
afterAll(async () => {
  await h?.close();
  limiterRedis?.disconnect();
  await server?.stop();
});

async function createKey(rateLimit: number) {
  const response = await h.app.inject({
    method: "POST",
    url: `${API}/api-keys`,
    headers: bearer(t.owner.token),
    payload: { name: `limit ${rateLimit}`, scopes: ["teams:read"], rateLimit },
  });
  expect(response.statusCode).toBe(201);
  return response.json().key as string;
}

const withKey = (key: string) =>
  h.app.inject({ method: "GET", url: `${API}/teams`, headers: { "x-api-key": key } });

describe("T9: rate limits", () => {
  it("an API key's own limit: exact 2xx/429 counts under a concurrent burst, Retry-After on every 429", async () => {
    const key = await createKey(5);
    const responses = await Promise.all(Array.from({ length: 12 }, () => withKey(key)));
    const ok = responses.filter((r) => r.statusCode === 200);
    const limited = responses.filter((r) => r.statusCode === 429);
    expect(ok).toHaveLength(5);
    expect(limited).toHaveLength(7);
    for (const response of limited) {
      expect(Number(response.headers["retry-after"])).toBeGreaterThan(0);
      expect(response.headers["content-type"]).toMatch(/problem\+json/);
      expect(response.json().code).toBe("rate_limited");
    }
    // Another key has its own budget.
    expect((await withKey(await createKey(5))).statusCode).toBe(200);
  });

  it("sign-in per account: known and unknown emails are limited alike", async () => {
    const attempt = (email: string) =>
      h.app.inject({ method: "POST", url: `${API}/login`, payload: { email, password: "wrong password" } });
    for (const email of [t.user.email, "nobody-limited@example.test"]) {
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await attempt(email)).statusCode);
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
    }
  });

  it("robot token exchange per IP", async () => {
    const { secret } = await seedRobot(h.app, t.owner.token);
    const statuses = [];
    for (let i = 0; i < 7; i++) {
      statuses.push(
        (await h.app.inject({ method: "POST", url: `${API}/robots/token`, payload: { credential: secret } }))
          .statusCode,
      );
    }
    // seedRobot used one exchange already.
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.slice(-2)).toEqual([429, 429]);
  });

  it("per signed-in user, across routes", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 65; i++) {
      statuses.push(
        (await h.app.inject({ method: "GET", url: `${API}/me`, headers: bearer(t.admin.token) })).statusCode,
      );
    }
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(5);
    expect(statuses.indexOf(429)).toBeGreaterThanOrEqual(55);
  });

  it("Redis paused mid-burst: requests fail open within the Redis timeout, none hangs", async () => {
    const key = await createKey(3);
    expect((await withKey(key)).statusCode).toBe(200);
    server.pause();
    try {
      const started = performance.now();
      const responses = await Promise.all(Array.from({ length: 6 }, () => withKey(key)));
      const elapsed = performance.now() - started;
      expect(responses.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200, 200]);
      expect(elapsed).toBeLessThan(REDIS_TIMEOUT_MS * 4 + 500);
    } finally {
      server.resume();
    }
    // Counting resumes with Redis.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = await Promise.all(Array.from({ length: 4 }, () => withKey(key)));
    expect(after.filter((r) => r.statusCode === 429).length).toBeGreaterThan(0);
  });

  it("Redis gone: requests fail open at once", async () => {
    const key = await createKey(1);
    await server.kill();
    const started = performance.now();
    const responses = [];
    for (let i = 0; i < 3; i++) responses.push((await withKey(key)).statusCode);
    expect(responses).toEqual([200, 200, 200]);
    expect(performance.now() - started).toBeLessThan(REDIS_TIMEOUT_MS * 3 + 500);
  });
});
