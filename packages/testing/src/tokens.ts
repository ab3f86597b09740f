import { randomUUID } from "node:crypto";
import type { TenantRole } from "@perseus/contracts";
import { createTokenVerifier, generateSigningKey, signToken, staticRevocations } from "@perseus/kit";
import { createLocalJWKSet } from "jose";

export const TEST_ISSUER = "https://perseus.test/api/auth";

/**
 * A signing key, a JWKS and a verifier for service tests that need signed-in actors
 * without running the auth service. The tokens are real ES256 JWTs.
 */
export async function createTestTokens() {
  const key = await generateSigningKey();
  const jwks = { keys: [key.publicJwk] };
  const keys = createLocalJWKSet(jwks);
  const revocations = staticRevocations();
  const verifier = createTokenVerifier({ keys, issuer: TEST_ISSUER, revocations });
  return {
    key,
    jwks,
    keys,
    revocations,
    verifier,
    issuer: TEST_ISSUER,
    async user(
      actor: { userId: string; tenantId: string; role?: TenantRole; sessionId?: string },
      ttlSeconds = 600,
    ) {
      const { token } = await signToken(key, {
        kind: "user",
        issuer: TEST_ISSUER,
        subject: actor.userId,
        ttlSeconds,
        claims: { tid: actor.tenantId, role: actor.role ?? "user", sid: actor.sessionId ?? randomUUID() },
      });
      return token;
    },
    async robot(
      actor: { robotId: string; tenantId: string; handle: string; credentialId?: string },
      ttlSeconds = 600,
    ) {
      const { token } = await signToken(key, {
        kind: "robot",
        issuer: TEST_ISSUER,
        subject: actor.robotId,
        ttlSeconds,
        claims: { tid: actor.tenantId, hdl: actor.handle, cid: actor.credentialId ?? randomUUID() },
      });
      return token;
    },
  };
}
export type TestTokens = Awaited<ReturnType<typeof createTestTokens>>;
