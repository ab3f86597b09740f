import { schema, withTenant } from "@perseus/db";
import { createApiKeyResolver, staticRevocations } from "@perseus/kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API, bearer, createHarness, type Harness, type SeededTenant, seedTenant } from "./helper.js";

let h: Harness;
let t: SeededTenant;
beforeAll(async () => {
  h = await createHarness();
  t = await seedTenant(h.app);
});
afterAll(async () => {
  await h?.close();
});

const create = (payload: Record<string, unknown>) =>
  h.app.inject({ method: "POST", url: `${API}/api-keys`, headers: bearer(t.owner.token), payload });

describe("API keys", () => {
  it("shown once as pak_<tenant>_<id>_<secret>, stored hashed, listed without secrets", async () => {
    const created = await create({ name: "ci", scopes: ["teams:read"], rateLimit: 100 });
    expect(created.statusCode).toBe(201);
    const { key, apiKey } = created.json();
    expect(key).toMatch(new RegExp(`^pak_${t.tenantId}_${apiKey.id}_[A-Za-z0-9_-]{43}$`));
    const secret = key.slice(-43);
    const rows = await withTenant(h.database.db, { tenantId: t.tenantId }, (tx) =>
      tx.select().from(schema.apiKeys),
    );
    expect(JSON.stringify(rows)).not.toContain(secret);
    const listed = await h.app.inject({
      method: "GET",
      url: `${API}/api-keys`,
      headers: bearer(t.admin.token),
    });
    expect(listed.json().items.map((k: { id: string }) => k.id)).toContain(apiKey.id);
    expect(listed.body).not.toContain(secret);
  });

  it("honours expiry on every request and refuses past expiries at creation", async () => {
    expect(
      (
        await create({
          name: "old",
          scopes: ["teams:read"],
          expiresAt: new Date(Date.now() - 1000).toISOString(),
        })
      ).statusCode,
    ).toBe(400);
    const soon = await create({
      name: "soon",
      scopes: ["teams:read"],
      expiresAt: new Date(Date.now() + 1500).toISOString(),
    });
    const headers = { "x-api-key": soon.json().key };
    expect((await h.app.inject({ method: "GET", url: `${API}/teams`, headers })).statusCode).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect((await h.app.inject({ method: "GET", url: `${API}/teams`, headers })).statusCode).toBe(401);
  });

  it("kit resolver: constant answer for malformed, foreign, wrong-secret keys; revocation applies at once", async () => {
    const revocations = staticRevocations();
    const resolve = createApiKeyResolver({ db: h.database.db, revocations, cacheTtlMs: 60_000 });
    const { key, apiKey } = (await create({ name: "direct", scopes: ["robots:read"] })).json();
    const actor = await resolve(key);
    expect(actor).toMatchObject({
      type: "api_key",
      keyId: apiKey.id,
      tenantId: t.tenantId,
      scopes: ["robots:read"],
    });
    const wrong = `${key.slice(0, -1)}${key.endsWith("A") ? "B" : "A"}`;
    const foreign = key.replace(t.tenantId, "00000000-0000-4000-8000-000000000000");
    for (const bad of ["", "pak_x", wrong, foreign, `${key}x`])
      await expect(resolve(bad)).rejects.toThrow("invalid API key");
    revocations.revoke("api_key", apiKey.id);
    await expect(resolve(key)).rejects.toThrow("invalid API key");
  });

  it("revoking answers 204, then the key is refused; unknown ids are 404", async () => {
    const { key, apiKey } = (await create({ name: "gone", scopes: ["teams:read"] })).json();
    const headers = { "x-api-key": key };
    expect((await h.app.inject({ method: "GET", url: `${API}/teams`, headers })).statusCode).toBe(200);
    const revoked = await h.app.inject({
      method: "DELETE",
      url: `${API}/api-keys/${apiKey.id}`,
      headers: bearer(t.owner.token),
    });
    expect(revoked.statusCode).toBe(204);
    expect((await h.app.inject({ method: "GET", url: `${API}/teams`, headers })).statusCode).toBe(401);
    const unknown = await h.app.inject({
      method: "DELETE",
      url: `${API}/api-keys/00000000-0000-4000-8000-000000000000`,
      headers: bearer(t.owner.token),
    });
    expect(unknown.statusCode).toBe(404);
  });
});
