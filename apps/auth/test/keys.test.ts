import { schema } from "@perseus/db";
import { createTokenVerifier, staticRevocations } from "@perseus/kit";
import { createLocalJWKSet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { createKeyStore } from "../src/keys/key-store.js";
import { API, bearer, createHarness, type Harness, seedTenant, signup } from "./helper.js";

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

describe("signing keys", () => {
  it("creates an ES256 key on first start, stores the private half encrypted, publishes a cacheable JWKS", async () => {
    const rows = await h.database.db.select().from(schema.signingKeys);
    expect(rows).toHaveLength(1);
    const sealed = JSON.stringify(rows[0]?.privateJwk);
    expect(sealed).toMatch(/A256GCM/);
    expect(sealed).not.toMatch(/"d":/);
    const jwks = await h.app.inject({ method: "GET", url: `${API}/.well-known/jwks.json` });
    expect(jwks.statusCode).toBe(200);
    expect(jwks.headers["cache-control"]).toMatch(/max-age=\d+/);
    const keys = jwks.json().keys;
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig", kid: rows[0]?.kid });
    expect(keys[0].d).toBeUndefined();
  });

  it("tokens verify against the published JWKS with the configured issuer (as other services do)", async () => {
    const { token } = await signup(h.app);
    const jwks = (await h.app.inject({ method: "GET", url: `${API}/.well-known/jwks.json` })).json();
    const verifier = createTokenVerifier({
      keys: createLocalJWKSet(jwks),
      issuer: "perseus",
      revocations: staticRevocations(),
    });
    const verified = await verifier.verify(token, ["user"]);
    expect(verified.kind).toBe("user");
  });

  it("rotation: owner-only; new key signs, old key stays published and its tokens stay valid", async () => {
    const t = await seedTenant(h.app);
    const denied = await h.app.inject({
      method: "POST",
      url: `${API}/signing-keys/rotate`,
      headers: bearer(t.admin.token),
    });
    expect(denied.statusCode).toBe(403);
    const before = (await h.app.inject({ method: "GET", url: `${API}/.well-known/jwks.json` })).json().keys;
    const rotated = await h.app.inject({
      method: "POST",
      url: `${API}/signing-keys/rotate`,
      headers: bearer(t.owner.token),
    });
    expect(rotated.statusCode).toBe(201);
    expect(rotated.json().status).toBe("active");
    const after = (await h.app.inject({ method: "GET", url: `${API}/.well-known/jwks.json` })).json().keys;
    expect(after.map((k: { kid: string }) => k.kid)).toEqual(
      expect.arrayContaining([...before.map((k: { kid: string }) => k.kid), rotated.json().kid]),
    );
    // The old token (old kid) still works; a new one is signed by the new key.
    expect(
      (await h.app.inject({ method: "GET", url: `${API}/me`, headers: bearer(t.user.token) })).statusCode,
    ).toBe(200);
    const fresh = await signup(h.app);
    const header = JSON.parse(Buffer.from(fresh.token.split(".")[0] as string, "base64url").toString());
    expect(header.kid).toBe(rotated.json().kid);
    const list = await h.app.inject({
      method: "GET",
      url: `${API}/signing-keys`,
      headers: bearer(t.owner.token),
    });
    expect(
      list
        .json()
        .items.map((k: { status: string }) => k.status)
        .sort(),
    ).toEqual(["active", "retiring"]);
    // A second replica verifies the new key's tokens at once (it reloads on an unknown kid).
    const replica = await h.replica();
    expect(
      (await replica.inject({ method: "GET", url: `${API}/me`, headers: bearer(fresh.token) })).statusCode,
    ).toBe(200);
  });

  it("a rotated-in key is published before it signs when an activation delay is set", async () => {
    let now = Date.now();
    const store = await createKeyStore({
      db: h.database.db,
      secret: h.config.AUTH_KEY_SECRET,
      maxTokenTtlSeconds: 600,
      activationDelaySeconds: 60,
      now: () => now,
    });
    const signer = store.signingKey().kid;
    const pending = await store.rotate();
    expect(pending.status).toBe("pending");
    expect(store.jwks().keys.map((k) => k.kid)).toContain(pending.kid);
    expect(store.signingKey().kid).toBe(signer);
    now += 61_000;
    expect(store.signingKey().kid).toBe(pending.kid);
    // The old key leaves the JWKS once every token it signed has expired.
    now += 600_000 + 61_000;
    expect(store.jwks().keys.map((k) => k.kid)).not.toContain(signer);
    store.close();
  });

  it("refuses to decrypt keys with another secret", async () => {
    await expect(
      createKeyStore({
        db: h.database.db,
        secret: "x".repeat(40),
        maxTokenTtlSeconds: 600,
        activationDelaySeconds: 0,
      }),
    ).rejects.toThrow(/AUTH_KEY_SECRET/);
  });

  it("production refuses to start without AUTH_KEY_SECRET", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/AUTH_KEY_SECRET/);
    expect(loadConfig({ NODE_ENV: "production", AUTH_KEY_SECRET: "s".repeat(32) }).AUTH_KEY_SECRET).toBe(
      "s".repeat(32),
    );
    expect(loadConfig({ NODE_ENV: "development" }).AUTH_KEY_SECRET.length).toBeGreaterThanOrEqual(32);
  });
});
