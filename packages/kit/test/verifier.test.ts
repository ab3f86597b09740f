import { randomUUID } from "node:crypto";
import net from "node:net";
import { createLocalJWKSet, createRemoteJWKSet } from "jose";
import { describe, expect, it } from "vitest";
import { createTokenVerifier, generateSigningKey, signToken, staticRevocations } from "../src/index.js";

const issuer = "https://perseus.test/api/auth";

async function userToken() {
  const key = await generateSigningKey();
  const { token } = await signToken(key, {
    kind: "user",
    issuer,
    subject: randomUUID(),
    ttlSeconds: 600,
    claims: { tid: randomUUID(), role: "user", sid: randomUUID() },
  });
  return { key, token };
}

/** A loopback port nothing listens on (was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("token verifier and an unreachable key source", () => {
  it("answers 503 (retry), not 401, when the JWKS cannot be fetched", async () => {
    const { token } = await userToken();
    const keys = createRemoteJWKSet(new URL(`http://127.0.0.1:${await closedPort()}/jwks.json`));
    const verifier = createTokenVerifier({ keys, issuer, revocations: staticRevocations() });
    await expect(verifier.verify(token, ["user"])).rejects.toMatchObject({ code: "unavailable" });
  });

  it("still answers 401 for a token no key of a reachable JWKS matches", async () => {
    const { token } = await userToken();
    const other = await generateSigningKey();
    const keys = createLocalJWKSet({ keys: [other.publicJwk] });
    const verifier = createTokenVerifier({ keys, issuer, revocations: staticRevocations() });
    await expect(verifier.verify(token, ["user"])).rejects.toMatchObject({ code: "unauthenticated" });
  });

  it("verifies once the key source is back (the failure was not cached)", async () => {
    const { key, token } = await userToken();
    let reachable = false;
    const local = createLocalJWKSet({ keys: [key.publicJwk] });
    const verifier = createTokenVerifier({
      keys: async (header, input) => {
        if (!reachable) throw new TypeError("fetch failed");
        return local(header, input);
      },
      issuer,
      revocations: staticRevocations(),
    });
    await expect(verifier.verify(token, ["user"])).rejects.toMatchObject({ code: "unavailable" });
    reachable = true;
    await expect(verifier.verify(token, ["user"])).resolves.toMatchObject({ kind: "user" });
  });
});
