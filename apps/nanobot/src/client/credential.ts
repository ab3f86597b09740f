import { ROBOT_CREDENTIAL_PATTERN, RobotTokenResponse } from "@perseus/contracts";

/** The platform refused the credential itself (revoked, rotated, mistyped): reconnecting cannot help. */
export class CredentialRefusedError extends Error {
  override name = "CredentialRefusedError";
}

/** Shape only: `prc_<tenantId>_<credentialId>_<secret>`. The secret part never appears in logs. */
export function parseCredential(credential: string): { tenantId: string; credentialId: string } | null {
  const match = ROBOT_CREDENTIAL_PATTERN.exec(credential.trim());
  return match ? { tenantId: match[1]!, credentialId: match[2]! } : null;
}

export type AccessToken = { token: string; expiresAt: number; robot?: RobotTokenResponse["robot"] };

export type TokenSource = {
  /** A valid access token, exchanged anew when the cached one is close to expiry. */
  get(): Promise<AccessToken>;
  /** Forget the cached token (after a 4001 close or a 401): the next get() exchanges again. */
  invalidate(): void;
};

/** Refresh when less than this share of the lifetime (or 60 s) is left. */
const REFRESH_MARGIN = 0.2;

export function tokenUrl(platformUrl: string) {
  return new URL("/api/auth/robots/token", platformUrl).toString();
}

/**
 * Exchanges the long-lived robot credential for short-lived access tokens
 * (`POST /api/auth/robots/token`). 400/401/403/404 mean the credential is refused;
 * network errors and 5xx are transient and thrown as plain errors for the caller's backoff.
 */
export function createCredentialTokenSource(options: {
  platformUrl: string;
  credential: string;
  fetchImpl?: typeof fetch;
  now?: () => number;
}): TokenSource {
  const now = options.now ?? Date.now;
  const doFetch = options.fetchImpl ?? fetch;
  let cached: (AccessToken & { issuedAt: number }) | null = null;
  let inflight: Promise<AccessToken> | null = null;

  const exchange = async (): Promise<AccessToken> => {
    const response = await doFetch(tokenUrl(options.platformUrl), {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ credential: options.credential }),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    if ([400, 401, 403, 404].includes(response.status)) {
      let detail = "";
      try {
        const problem = JSON.parse(text) as { detail?: string; title?: string };
        detail = problem.detail ?? problem.title ?? "";
      } catch {}
      throw new CredentialRefusedError(
        `the platform refused the robot credential (HTTP ${response.status}${detail ? `: ${detail}` : ""}); create a new credential for this robot in the console`,
      );
    }
    if (!response.ok) throw new Error(`token exchange failed with HTTP ${response.status}`);
    const body = RobotTokenResponse.parse(JSON.parse(text));
    const token = {
      token: body.accessToken,
      expiresAt: Date.parse(body.expiresAt),
      robot: body.robot,
      issuedAt: now(),
    };
    cached = token;
    return token;
  };

  return {
    async get() {
      if (cached) {
        const lifetime = cached.expiresAt - cached.issuedAt;
        const margin = Math.max(60_000, lifetime * REFRESH_MARGIN);
        if (cached.expiresAt - now() > Math.min(margin, lifetime / 2)) return cached;
      }
      inflight ??= exchange().finally(() => {
        inflight = null;
      });
      return inflight;
    },
    invalidate() {
      cached = null;
    },
  };
}

/**
 * A fixed access token (tests, or a token minted elsewhere): it cannot be refreshed, so
 * once the platform refuses it, the client stops.
 */
export function createStaticTokenSource(token: string): TokenSource {
  let refused = false;
  return {
    async get() {
      if (refused)
        throw new CredentialRefusedError("the platform refused the access token (it cannot be refreshed)");
      return { token, expiresAt: Number.POSITIVE_INFINITY };
    },
    invalidate() {
      refused = true;
    },
  };
}
