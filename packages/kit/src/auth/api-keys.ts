import { createHash, timingSafeEqual } from "node:crypto";
import { API_KEY_PATTERN, ApiKeyScope } from "@perseus/contracts";
import { type Db, schema, sql, withTenant } from "@perseus/db";
import type { Actor } from "../auth-types.js";
import { UnauthenticatedError } from "../errors.js";
import type { Revocations } from "./revocations.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Splits `pak_<tenantId>_<keyId>_<secret>`; null when malformed. */
export function parseApiKey(key: string): { tenantId: string; keyId: string; secret: string } | null {
  const match = API_KEY_PATTERN.exec(key);
  if (!match) return null;
  const [, tenantId, keyId, secret] = match;
  if (!tenantId || !keyId || !secret || !UUID.test(tenantId) || !UUID.test(keyId)) return null;
  return { tenantId, keyId, secret };
}

/** How API key secrets are stored: sha256, hex (the secret is 256 random bits, so no KDF is needed). */
export function hashApiKeySecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export type ApiKeyResolverOptions = {
  db: Db;
  /** How long a verified key is trusted without asking Postgres again (revocations still apply at once). */
  cacheTtlMs?: number;
  /** When given, a published `api_key` revocation refuses the key on the next request. */
  revocations?: Revocations;
  maxCacheEntries?: number;
  now?: () => number;
};

type Cached = {
  actor: Extract<Actor, { type: "api_key" }>;
  /** Requests per minute the key allows (enforced by the service's rate limiter). */
  rateLimit: number;
  expiresAtMs: number;
  cachedAtMs: number;
};

/**
 * Resolves an `X-API-Key` header to its actor, for `authPlugin({ resolveApiKey })` in any
 * service: looks the key up by the id embedded in it (in its tenant's RLS context),
 * compares the hash in constant time, and honours revocation and expiry. Every failure is
 * the same 401.
 */
export function createApiKeyResolver(options: ApiKeyResolverOptions) {
  const cacheTtlMs = options.cacheTtlMs ?? 10_000;
  const maxEntries = options.maxCacheEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, Cached>();
  const refused = () => new UnauthenticatedError("invalid API key");

  const isRevoked = (keyId: string) => options.revocations?.notBefore("api_key", keyId) !== undefined;

  const lookup = async (key: string): Promise<Cached> => {
    const parsed = parseApiKey(key);
    if (!parsed) throw refused();
    const row = await withTenant(options.db, { tenantId: parsed.tenantId }, async (tx) => {
      const [found] = await tx
        .select()
        .from(schema.apiKeys)
        .where(sql`${schema.apiKeys.id} = ${parsed.keyId}`);
      return found;
    });
    const expected = Buffer.from(row?.secretHash ?? "", "hex");
    const actual = Buffer.from(hashApiKeySecret(parsed.secret), "hex");
    const matches = expected.length === actual.length && timingSafeEqual(expected, actual);
    if (!row || !matches || row.revokedAt) throw refused();
    const expiresAtMs = row.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
    if (expiresAtMs <= now()) throw refused();
    const scopes = ApiKeyScope.array().safeParse(row.scopes);
    return {
      actor: {
        type: "api_key",
        keyId: row.id,
        tenantId: row.tenantId,
        scopes: scopes.success ? scopes.data : [],
        createdBy: row.createdBy,
      },
      rateLimit: row.rateLimit,
      expiresAtMs,
      cachedAtMs: now(),
    };
  };

  const resolveEntry = async (key: string): Promise<Cached> => {
    if (key.length > 200) throw refused();
    const cacheKey = hashApiKeySecret(key);
    let entry = cache.get(cacheKey);
    if (!entry || now() - entry.cachedAtMs > cacheTtlMs) {
      cache.delete(cacheKey);
      entry = await lookup(key);
      if (cache.size >= maxEntries) {
        const oldest = cache.keys().next().value;
        if (oldest !== undefined) cache.delete(oldest);
      }
      cache.set(cacheKey, entry);
    }
    if (entry.expiresAtMs <= now() || isRevoked(entry.actor.keyId)) {
      cache.delete(cacheKey);
      throw refused();
    }
    return entry;
  };

  const resolve = async (key: string): Promise<Actor> => (await resolveEntry(key)).actor;

  return Object.assign(resolve, {
    /** The actor and the key's own rate limit (requests per minute). */
    async describe(key: string): Promise<{ actor: Actor; rateLimit: number }> {
      const entry = await resolveEntry(key);
      return { actor: entry.actor, rateLimit: entry.rateLimit };
    },
    /** Drops cached entries of a key (the revoking replica calls it; others rely on revocations or the TTL). */
    invalidate(keyId: string) {
      for (const [cacheKey, entry] of cache) if (entry.actor.keyId === keyId) cache.delete(cacheKey);
    },
  });
}
export type ApiKeyResolver = ReturnType<typeof createApiKeyResolver>;
