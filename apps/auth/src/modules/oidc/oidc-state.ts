import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";

/** What travels in the short-lived `perseus_oidc` cookie between start and callback. */
export type OidcState = { state: string; nonce: string; verifier: string; tenantId?: string; exp: number };

/**
 * Signs the OIDC flow state (HMAC-SHA256, key derived from AUTH_KEY_SECRET): the browser
 * holds it, so no server-side store is needed, and a forged or swapped cookie is refused.
 */
export function createStateSealer(secret: string) {
  const key = Buffer.from(hkdfSync("sha256", secret, "perseus.oidc-state", "hmac.v1", 32));
  const sign = (data: string) => createHmac("sha256", key).update(data).digest("base64url");
  return {
    fresh(tenantId?: string, ttlMs = 600_000): OidcState {
      return {
        state: randomBytes(24).toString("base64url"),
        nonce: randomBytes(24).toString("base64url"),
        verifier: randomBytes(48).toString("base64url"),
        ...(tenantId ? { tenantId } : {}),
        exp: Date.now() + ttlMs,
      };
    },
    seal(state: OidcState): string {
      const data = Buffer.from(JSON.stringify(state)).toString("base64url");
      return `${data}.${sign(data)}`;
    },
    open(cookie: string | undefined): OidcState | null {
      if (!cookie || cookie.length > 2048) return null;
      const [data, mac] = cookie.split(".");
      if (!data || !mac) return null;
      const expected = Buffer.from(sign(data));
      const given = Buffer.from(mac);
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
      try {
        const parsed = JSON.parse(Buffer.from(data, "base64url").toString("utf8")) as OidcState;
        return typeof parsed.exp === "number" && parsed.exp > Date.now() ? parsed : null;
      } catch {
        return null;
      }
    },
  };
}

/** PKCE S256 challenge of a verifier. */
export function challengeOf(verifier: string): string {
  return createHash("sha256").update(verifier).digest("base64url");
}
