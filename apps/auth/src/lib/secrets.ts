import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** 32 random bytes, base64url (43 characters): every credential secret we mint. */
export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function sha256(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

/** Compares two hex digests in constant time (length mismatch is simply false). */
export function digestsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, "hex");
  const right = Buffer.from(b, "hex");
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}

export type ParsedCredential = { tenantId: string; id: string; secret: string };

/**
 * Parses `<kind>_<tenantId>_<id>_<secret>` credentials (robot credentials, API keys,
 * invites). Both ids must be real UUIDs: they pick the tenant context of the lookup.
 */
export function parseCredential(kind: "prc" | "pak" | "pin", value: string): ParsedCredential | null {
  if (value.length !== kind.length + 1 + 36 + 1 + 36 + 1 + 43) return null;
  const [prefix, tenantId, id, secret] = [
    value.slice(0, kind.length),
    value.slice(kind.length + 1, kind.length + 37),
    value.slice(kind.length + 38, kind.length + 74),
    value.slice(kind.length + 75),
  ];
  if (prefix !== kind || value[kind.length] !== "_" || value[kind.length + 37] !== "_") return null;
  if (value[kind.length + 74] !== "_" || !UUID.test(tenantId) || !UUID.test(id)) return null;
  if (!/^[A-Za-z0-9_-]{43}$/.test(secret)) return null;
  return { tenantId, id, secret };
}

export function formatCredential(kind: "prc" | "pak" | "pin", tenantId: string, id: string, secret: string) {
  return `${kind}_${tenantId}_${id}_${secret}`;
}
