import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API, bearer, createHarness, type Harness, seedRobot, seedTenant } from "./helper.js";

// T6 (HTTP part): a revocation through one replica is honoured by another within 1 s.
let h: Harness;
let other: FastifyInstance;
beforeAll(async () => {
  h = await createHarness();
  other = await h.replica();
});
afterAll(async () => {
  await h?.close();
});

/** Polls until the call answers 401; returns how long that took. */
async function msUntil401(app: FastifyInstance, url: string, token: string, limitMs = 3000) {
  const started = performance.now();
  while (performance.now() - started < limitMs) {
    const response = await app.inject({ method: "GET", url, headers: bearer(token) });
    if (response.statusCode === 401) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Number.POSITIVE_INFINITY;
}

describe("T6: revocation across replicas", () => {
  it("revoking a robot on replica 1 makes its token fail on replica 2 within 1 s", async () => {
    const t = await seedTenant(h.app);
    const { robot, token } = await seedRobot(h.app, t.owner.token);
    // Replica 2 has verified (and cached) the token already.
    expect(
      (await other.inject({ method: "GET", url: `${API}/robot/me`, headers: bearer(token) })).statusCode,
    ).toBe(200);
    const revoked = await h.app.inject({
      method: "POST",
      url: `${API}/robots/${robot.id}/revoke`,
      headers: bearer(t.owner.token),
    });
    expect(revoked.statusCode).toBe(200);
    expect(await msUntil401(other, `${API}/robot/me`, token)).toBeLessThan(1000);
  });

  it("disabling a user on replica 1 makes their token fail on replica 2 within 1 s", async () => {
    const t = await seedTenant(h.app);
    expect(
      (await other.inject({ method: "GET", url: `${API}/me`, headers: bearer(t.user.token) })).statusCode,
    ).toBe(200);
    const disabled = await h.app.inject({
      method: "POST",
      url: `${API}/members/${t.user.session.user.id}/disable`,
      headers: bearer(t.owner.token),
    });
    expect(disabled.statusCode).toBe(200);
    expect(await msUntil401(other, `${API}/me`, t.user.token)).toBeLessThan(1000);
    // Their colleague's token is untouched.
    expect(
      (await other.inject({ method: "GET", url: `${API}/me`, headers: bearer(t.admin.token) })).statusCode,
    ).toBe(200);
  });

  it("revoking an API key on replica 1 refuses it on replica 2 within 1 s", async () => {
    const t = await seedTenant(h.app);
    const key = await h.app.inject({
      method: "POST",
      url: `${API}/api-keys`,
      headers: bearer(t.owner.token),
      payload: { name: "ci", scopes: ["teams:read"] },
    });
    const headers = { "x-api-key": key.json().key };
    expect((await other.inject({ method: "GET", url: `${API}/teams`, headers })).statusCode).toBe(200);
    await h.app.inject({
      method: "DELETE",
      url: `${API}/api-keys/${key.json().apiKey.id}`,
      headers: bearer(t.owner.token),
    });
    const started = performance.now();
    let status = 200;
    while (status !== 401 && performance.now() - started < 3000) {
      status = (await other.inject({ method: "GET", url: `${API}/teams`, headers })).statusCode;
      if (status !== 401) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(status).toBe(401);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
