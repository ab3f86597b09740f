import {
  RobotTokenClaims,
  TASK_TOKEN_PATTERN,
  TOKEN_ALGORITHM,
  TOKEN_AUDIENCE,
  type TokenKind,
  tokenTypes,
  UserTokenClaims,
} from "@perseus/contracts";
import { decodeProtectedHeader, errors, type JWTVerifyGetKey, jwtVerify } from "jose";
import type { Actor } from "../auth-types.js";
import { UnauthenticatedError, UnavailableError } from "../errors.js";
import type { Revocations } from "./revocations.js";

export type VerifiedToken =
  | { kind: "user"; claims: UserTokenClaims }
  | { kind: "robot"; claims: RobotTokenClaims };

export type TokenVerifier = {
  verify(token: string, accept: readonly TokenKind[]): Promise<VerifiedToken>;
  /** Why a token would be refused now (revocation/expiry) without re-verifying its signature. */
  isStillValid(verified: VerifiedToken): boolean;
};

const MAX_TOKEN_LENGTH = 4_096;

/** The key source (the auth service's JWKS) could not be read: the token was not judged at all. */
class KeySourceUnavailable extends Error {}

/**
 * Whether a key lookup failed for want of the key source (a JWKS fetch refused, timed out,
 * answered non-200 or garbage) rather than over the token (unknown kid, wrong algorithm).
 */
const isKeySourceFailure = (error: unknown): boolean => {
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return true;
  if (error instanceof errors.JOSEError) return error.constructor === errors.JOSEError; // generic: HTTP status, JSON
  if (!(error instanceof Error)) return false;
  if (error instanceof TypeError && error.message === "fetch failed") return true;
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  return (
    error.name === "AbortError" ||
    error.name === "TimeoutError" ||
    (typeof code === "string" && /^E[A-Z]+$/.test(code))
  );
};
const claimSchemas = { user: UserTokenClaims, robot: RobotTokenClaims } as const;
const kindByType = new Map<string, TokenKind>(
  Object.entries(tokenTypes).map(([kind, typ]): [string, TokenKind] => [typ, kind as TokenKind]),
);

/** Three dot-separated parts, checked without splitting (this runs on every request). */
function isCompactJws(token: string): boolean {
  const first = token.indexOf(".");
  const second = first < 0 ? -1 : token.indexOf(".", first + 1);
  return second > 0 && token.indexOf(".", second + 1) < 0;
}

/**
 * Verifies access tokens: one algorithm, issuer, audience, `typ` per kind, expiry, and
 * revocation. Signature checks are slow on Node 20 (WebCrypto), so a verified token is
 * cached until it expires; expiry and revocation are still checked on every hit.
 */
export function createTokenVerifier(options: {
  keys: JWTVerifyGetKey;
  issuer: string;
  revocations: Revocations;
  cacheSize?: number;
  clockToleranceSeconds?: number;
}): TokenVerifier {
  const cache = new Map<string, VerifiedToken>();
  const cacheSize = options.cacheSize ?? 20_000;
  // A JWKS that cannot be fetched (auth restarting, a partition) says nothing about the token:
  // answering 401 would sign people out over a blip, so it becomes 503 (retry) instead.
  const keys: JWTVerifyGetKey = async (header, input) => {
    try {
      return await options.keys(header, input);
    } catch (error) {
      throw isKeySourceFailure(error) ? new KeySourceUnavailable() : error;
    }
  };

  const refusedSince = (kind: Parameters<Revocations["notBefore"]>[0], id: string, issuedMs: number) => {
    const notBefore = options.revocations.notBefore(kind, id);
    return notBefore !== undefined && issuedMs < notBefore;
  };
  const isStillValid = (verified: VerifiedToken): boolean => {
    const { claims } = verified;
    if (claims.exp * 1000 <= Date.now()) return false;
    switch (verified.kind) {
      case "user":
        return (
          !refusedSince("user", verified.claims.sub, claims.ims) &&
          !refusedSince("session", verified.claims.sid, claims.ims)
        );
      case "robot":
        return (
          !refusedSince("robot", verified.claims.sub, claims.ims) &&
          !refusedSince("credential", verified.claims.cid, claims.ims)
        );
    }
  };

  const verifyUncached = async (token: string): Promise<VerifiedToken> => {
    const header = decodeProtectedHeader(token);
    if (header.alg !== TOKEN_ALGORITHM) throw new Error("algorithm not allowed");
    // Keys come only from our JWKS; a token naming its own key source is hostile.
    if (header.jku || header.jwk || header.x5u || header.x5c || header.crit)
      throw new Error("embedded key material");
    const kind = typeof header.typ === "string" ? kindByType.get(header.typ) : undefined;
    if (!kind) throw new Error("unknown token type");
    const { payload } = await jwtVerify(token, keys, {
      algorithms: [TOKEN_ALGORITHM],
      issuer: options.issuer,
      audience: TOKEN_AUDIENCE,
      typ: tokenTypes[kind],
      clockTolerance: options.clockToleranceSeconds ?? 5,
      requiredClaims: ["exp", "iat", "sub", "jti"],
    });
    const claims = claimSchemas[kind].parse(payload);
    return { kind, claims } as VerifiedToken;
  };

  return {
    isStillValid,
    async verify(token, accept) {
      if (!token || token.length > MAX_TOKEN_LENGTH || !isCompactJws(token)) {
        throw new UnauthenticatedError("malformed access token");
      }
      let verified = cache.get(token);
      if (!verified) {
        try {
          verified = await verifyUncached(token);
        } catch (error) {
          if (error instanceof KeySourceUnavailable)
            throw new UnavailableError("token keys are unavailable; retry shortly");
          throw new UnauthenticatedError("invalid access token");
        }
        if (cache.size >= cacheSize) {
          // Map iteration order is insertion order: drop the oldest entry.
          const oldest = cache.keys().next().value;
          if (oldest !== undefined) cache.delete(oldest);
        }
        cache.set(token, verified);
      }
      if (!accept.includes(verified.kind))
        throw new UnauthenticatedError("this kind of token is not accepted here");
      if (!isStillValid(verified)) {
        cache.delete(token);
        throw new UnauthenticatedError("access token expired or revoked");
      }
      return verified;
    },
  };
}

/** The actor a verified token stands for. */
export function actorFromToken(verified: VerifiedToken): Actor {
  switch (verified.kind) {
    case "user":
      return {
        type: "user",
        userId: verified.claims.sub,
        tenantId: verified.claims.tid,
        role: verified.claims.role,
        sessionId: verified.claims.sid,
      };
    case "robot":
      return {
        type: "robot",
        robotId: verified.claims.sub,
        tenantId: verified.claims.tid,
        handle: verified.claims.hdl,
      };
  }
}

/** Extracts a bearer token from an Authorization header value. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header.trim());
  return match?.[1];
}

/** Parses a task token (`ptt_<tenantId>_<taskId>_<secret>`); null when malformed. */
export function parseTaskToken(token: string): { tenantId: string; taskId: string; secret: string } | null {
  const match = TASK_TOKEN_PATTERN.exec(token);
  if (!match) return null;
  const [, tenantId, taskId, secret] = match;
  return tenantId && taskId && secret ? { tenantId, taskId, secret } : null;
}
