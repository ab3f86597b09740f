import { randomUUID } from "node:crypto";
import { TOKEN_ALGORITHM, TOKEN_AUDIENCE, type TokenKind, tokenTypes } from "@perseus/contracts";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";

export type SigningKey = { kid: string; privateKey: CryptoKey; publicJwk: JWK };

/** A fresh ES256 key pair with its public JWK (kid, alg and use set) ready for a JWKS. */
export async function generateSigningKey(
  kid: string = randomUUID(),
): Promise<SigningKey & { privateJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALGORITHM, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: TOKEN_ALGORITHM, use: "sig" };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: TOKEN_ALGORITHM };
  return { kid, privateKey, publicJwk, privateJwk };
}

/**
 * Signs access tokens of one kind. `claims` must not carry iss/aud/iat/exp/jti: those
 * are set here, the same way for every kind.
 */
export async function signToken(
  key: SigningKey,
  options: {
    kind: TokenKind;
    issuer: string;
    subject: string;
    ttlSeconds: number;
    claims: Record<string, unknown>;
  },
): Promise<{ token: string; expiresAt: Date }> {
  const nowMs = Date.now();
  const exp = Math.floor(nowMs / 1000) + options.ttlSeconds;
  const token = await new SignJWT({ ...options.claims, ims: nowMs })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: tokenTypes[options.kind], kid: key.kid })
    .setIssuer(options.issuer)
    .setAudience(TOKEN_AUDIENCE)
    .setSubject(options.subject)
    .setIssuedAt(Math.floor(nowMs / 1000))
    .setExpirationTime(exp)
    .setJti(randomUUID())
    .sign(key.privateKey);
  return { token, expiresAt: new Date(exp * 1000) };
}
