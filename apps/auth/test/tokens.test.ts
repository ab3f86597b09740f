import { createHmac, randomUUID } from "node:crypto";
import { tokenTypes } from "@perseus/contracts";
import { generateSigningKey } from "@perseus/kit";
import fc from "fast-check";
import { type CryptoKey, importJWK, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeyStore, type KeyStore } from "../src/keys/key-store.js";
import { API, bearer, createHarness, type Harness, seedRobot, signup } from "./helper.js";

// T5: forged and confused tokens are all refused with 401 problem+json, never a 5xx.
let h: Harness;
let store: KeyStore;
let valid: string;
let robotToken: string;
let claims: { sub: string; tid: string; sid: string };

const b64 = (value: unknown) =>
  Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

beforeAll(async () => {
  h = await createHarness();
  store = await createKeyStore({
    db: h.database.db,
    secret: h.config.AUTH_KEY_SECRET,
    maxTokenTtlSeconds: 600,
    activationDelaySeconds: 0,
  });
  const owner = await signup(h.app);
  valid = owner.token;
  robotToken = (await seedRobot(h.app, owner.token)).token;
  claims = { sub: owner.session.user.id, tid: owner.session.tenant.id, sid: owner.session.sessionId };
});
afterAll(async () => {
  store?.close();
  await h?.close();
});

/** Signs with the service's real key: only the claims or header are wrong. */
async function signReal(
  payload: Record<string, unknown>,
  header: Record<string, unknown> = {},
  options: { exp?: number; iss?: string; aud?: string } = {},
) {
  const key = store.signingKey();
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ims: Date.now(), jti: randomUUID(), ...payload })
    .setProtectedHeader({ alg: "ES256", typ: tokenTypes.user, kid: key.kid, ...header })
    .setIssuer(options.iss ?? "perseus")
    .setAudience(options.aud ?? "perseus")
    .setIssuedAt(now)
    .setExpirationTime(options.exp ?? now + 600)
    .sign(key.privateKey);
}

/** Signs any header bytes with the real key (jose refuses to build some of these). */
async function rawSign(header: Record<string, unknown>, body: Record<string, unknown>) {
  const input = `${b64(header)}.${b64(body)}`;
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    store.signingKey().privateKey,
    new TextEncoder().encode(input),
  );
  return `${input}.${Buffer.from(signature).toString("base64url")}`;
}

const userClaims = () => ({ sub: claims.sub, tid: claims.tid, sid: claims.sid, role: "owner" });

function flip(token: string, part: number, index: number) {
  const parts = token.split(".");
  const bytes = Buffer.from(parts[part] as string, "base64url");
  bytes[index % bytes.length] = (bytes[index % bytes.length] as number) ^ 0x01;
  parts[part] = bytes.toString("base64url");
  return parts.join(".");
}

async function forgedTokens(): Promise<[string, string][]> {
  const [header, payload, signature] = valid.split(".") as [string, string, string];
  const decodedHeader = JSON.parse(Buffer.from(header, "base64url").toString());
  const jwks = store.jwks().keys[0] as JWK;
  const attacker = await generateSigningKey();
  const attackerJwk = attacker.publicJwk;
  const now = Math.floor(Date.now() / 1000);
  const hs256 = (secret: string | Buffer, head: Record<string, unknown> = {}) => {
    const h64 = b64({ ...decodedHeader, alg: "HS256", ...head });
    const sig = createHmac("sha256", secret).update(`${h64}.${payload}`).digest("base64url");
    return `${h64}.${payload}.${sig}`;
  };
  const attackerSigned = (head: Record<string, unknown>) =>
    new SignJWT({ ims: Date.now(), jti: randomUUID(), ...userClaims() })
      .setProtectedHeader({ alg: "ES256", typ: tokenTypes.user, ...head })
      .setIssuer("perseus")
      .setAudience("perseus")
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(attacker.privateKey);
  const publicKeyPem = await crypto.subtle
    .exportKey("spki", (await importJWK(jwks, "ES256")) as CryptoKey)
    .then(
      (der) =>
        `-----BEGIN PUBLIC KEY-----\n${Buffer.from(der).toString("base64")}\n-----END PUBLIC KEY-----\n`,
    );

  return [
    ["alg none", `${b64({ ...decodedHeader, alg: "none" })}.${payload}.`],
    ["alg none, no signature part", `${b64({ ...decodedHeader, alg: "none" })}.${payload}`],
    ["alg NONE", `${b64({ ...decodedHeader, alg: "NONE" })}.${payload}.`],
    ["HS256 with the public JWK as secret", hs256(JSON.stringify(jwks))],
    ["HS256 with the public key PEM as secret", hs256(publicKeyPem)],
    ["HS256 with the x coordinate", hs256(Buffer.from(String(jwks.x), "base64url"))],
    [
      "RS256 header on an ES256 signature",
      `${b64({ ...decodedHeader, alg: "RS256" })}.${payload}.${signature}`,
    ],
    ["ES384 header", `${b64({ ...decodedHeader, alg: "ES384" })}.${payload}.${signature}`],
    ["bit flip in header", flip(valid, 0, 5)],
    ["bit flip in payload", flip(valid, 1, 20)],
    ["bit flip in payload end", flip(valid, 1, 1000)],
    ["bit flip in signature", flip(valid, 2, 10)],
    ["bit flip in signature end", flip(valid, 2, 63)],
    ["signature truncated", `${header}.${payload}.${signature.slice(0, 40)}`],
    ["signature swapped from another token", `${header}.${payload}.${robotToken.split(".")[2]}`],
    ["unknown kid (attacker key)", await attackerSigned({ kid: randomUUID() })],
    ["real kid, attacker key", await attackerSigned({ kid: decodedHeader.kid })],
    ["jku header", await attackerSigned({ kid: decodedHeader.kid, jku: "https://evil.example/jwks.json" })],
    ["jwk header", await attackerSigned({ jwk: attackerJwk })],
    ["x5u header", await attackerSigned({ kid: decodedHeader.kid, x5u: "https://evil.example/cert.pem" })],
    ["jku on a real signature", await signReal(userClaims(), { jku: "https://evil.example/jwks.json" })],
    ["x5c on a real signature", await signReal(userClaims(), { x5c: ["MIIB"] })],
    [
      "crit on a real signature",
      await rawSign(
        { ...decodedHeader, crit: ["exp"] },
        JSON.parse(Buffer.from(payload, "base64url").toString()),
      ),
    ],
    ["expired", await signReal(userClaims(), {}, { exp: now - 120 })],
    ["nbf in the future", await signReal({ ...userClaims(), nbf: now + 3600 })],
    ["wrong issuer", await signReal(userClaims(), {}, { iss: "https://evil.example" })],
    ["wrong audience", await signReal(userClaims(), {}, { aud: "someone-else" })],
    ["robot typ with user claims", await signReal(userClaims(), { typ: tokenTypes.robot })],
    [
      "user typ with robot claims",
      await signReal({ sub: claims.sub, tid: claims.tid, hdl: "bot", cid: randomUUID() }),
    ],
    ["no typ", await signReal(userClaims(), { typ: undefined })],
    ["generic JWT typ", await signReal(userClaims(), { typ: "JWT" })],
    ["role not a role", await signReal({ ...userClaims(), role: "superadmin" })],
    ["tenant id not a uuid", await signReal({ ...userClaims(), tid: "tenant-b" })],
    ["no session id", await signReal({ sub: claims.sub, tid: claims.tid, role: "owner" })],
    [
      "JWE-shaped (5 parts)",
      `${b64({ alg: "RSA-OAEP", enc: "A256GCM" })}.${b64("k")}.${b64("iv")}.${b64("ct")}.${b64("tag")}`,
    ],
    ["64 KB token", `${header}.${"A".repeat(65_536)}.${signature}`],
    ["empty", ""],
    ["garbage", "not-a-token"],
    ["two parts", `${header}.${payload}`],
    ["four parts", `${valid}.extra`],
    ["non-base64 characters", `${header}.${payload}!.${signature}`],
    ["JSON header not an object", `${b64("[1,2]")}.${payload}.${signature}`],
    ["payload not JSON", `${header}.${b64("{not json")}.${signature}`],
  ];
}

async function expect401(token: string, url = `${API}/me`, headers: Record<string, string> = bearer(token)) {
  const response = await h.app.inject({ method: "GET", url, headers });
  return {
    ok: response.statusCode === 401 && /problem\+json/.test(String(response.headers["content-type"])),
    response,
  };
}

describe("T5: forged and confused tokens", () => {
  it("the valid token works (the harness can tell)", async () => {
    expect((await h.app.inject({ method: "GET", url: `${API}/me`, headers: bearer(valid) })).statusCode).toBe(
      200,
    );
    // The raw signer used for headers jose will not build makes valid tokens when the header is sane.
    const [header, payload] = valid.split(".") as [string, string];
    const resigned = await rawSign(
      JSON.parse(Buffer.from(header, "base64url").toString()),
      JSON.parse(Buffer.from(payload, "base64url").toString()),
    );
    expect(
      (await h.app.inject({ method: "GET", url: `${API}/me`, headers: bearer(resigned) })).statusCode,
    ).toBe(200);
  });

  it("refuses at least 30 crafted tokens with 401 problem+json", async () => {
    const tokens = await forgedTokens();
    expect(tokens.length).toBeGreaterThanOrEqual(30);
    const failures: string[] = [];
    for (const [name, token] of tokens) {
      const { ok, response } = await expect401(token);
      if (!ok) failures.push(`${name}: ${response.statusCode} ${response.body.slice(0, 120)}`);
      // Robot routes refuse them the same way.
      const robotRoute = await expect401(token, `${API}/robot/me`);
      if (!robotRoute.ok) failures.push(`${name} (robot route): ${robotRoute.response.statusCode}`);
    }
    for (const header of [
      "Basic dXNlcjpwYXNz",
      "Bearer",
      "Bearer  ",
      `bearer ${valid} extra`,
      `Token ${valid}`,
    ]) {
      const { ok, response } = await expect401("", `${API}/me`, { authorization: header });
      if (!ok) failures.push(`header '${header.slice(0, 20)}': ${response.statusCode}`);
    }
    expect(failures).toEqual([]);
  });

  it("refuses fuzzed mutations of a valid token (fast-check)", async () => {
    const original = valid.split(".").map((part) => Buffer.from(part, "base64url"));
    const sameAsOriginal = (token: string) => {
      const parts = token.split(".");
      return (
        parts.length === 3 &&
        /^[A-Za-z0-9_-]*$/.test(parts.join("")) &&
        parts.every((part, i) => Buffer.from(part, "base64url").equals(original[i] as Buffer))
      );
    };
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant("replace"), at: fc.nat(), ch: fc.constantFrom(...alphabet) }),
      fc.record({ kind: fc.constant("insert"), at: fc.nat(), ch: fc.constantFrom(...alphabet) }),
      fc.record({ kind: fc.constant("delete"), at: fc.nat(), ch: fc.constant("") }),
      fc.record({ kind: fc.constant("truncate"), at: fc.nat(), ch: fc.constant("") }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (mutations) => {
        let token = valid;
        for (const m of mutations) {
          const at = m.at % (token.length + 1);
          if (m.kind === "replace") token = token.slice(0, at) + m.ch + token.slice(at + 1);
          else if (m.kind === "insert") token = token.slice(0, at) + m.ch + token.slice(at);
          else if (m.kind === "delete") token = token.slice(0, at) + token.slice(at + 1);
          else token = token.slice(0, at);
        }
        fc.pre(!sameAsOriginal(token));
        const response = await h.app.inject({
          method: "GET",
          url: `${API}/me`,
          headers: { authorization: `Bearer ${token}` },
        });
        expect(response.statusCode).toBe(401);
        expect(response.headers["content-type"]).toMatch(/problem\+json/);
      }),
      { numRuns: 150 },
    );
  });
});
