import { schema } from "@perseus/db";
import { AppError, UnauthenticatedError, UnavailableError } from "@perseus/kit";
import { and, eq } from "drizzle-orm";
import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from "jose";
import type { Services } from "../../deps.js";
import type { Origin } from "../../lib/context.js";
import * as repo from "../sessions/sessions.repo.js";
import type { IssuedSession, SessionsService } from "../sessions/sessions.service.js";
import { challengeOf, type OidcState } from "./oidc-state.js";

type Discovery = {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint?: string;
};

export type OidcSettings = {
  issuer: string;
  clientId: string;
  clientSecret?: string | undefined;
  redirectUri: string;
};

const refused = (why: string) => new UnauthenticatedError(`OIDC sign-in failed: ${why}`);

/**
 * OIDC sign-in as a relying party: authorization code + PKCE (S256), state and nonce
 * checked, the ID token verified against the provider's JWKS (issuer, audience, expiry).
 * A known identity signs in its user; an unknown one is linked to the account with the
 * same verified email; with no such account the person must sign up or accept an invite.
 */
export function createOidcService(
  deps: Pick<Services, "db">,
  sessions: Pick<SessionsService, "signInVerified">,
  settings: OidcSettings,
) {
  let discovery: Promise<{ meta: Discovery; keys: JWTVerifyGetKey }> | undefined;
  const discover = () => {
    discovery ??= (async () => {
      const url = `${settings.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
      const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      if (!response.ok) throw new Error(`discovery answered ${response.status}`);
      const meta = (await response.json()) as Discovery;
      if (meta.issuer !== settings.issuer) throw new Error("discovery names another issuer");
      return { meta, keys: createRemoteJWKSet(new URL(meta.jwks_uri)) };
    })().catch((error) => {
      discovery = undefined;
      throw new UnavailableError(`the identity provider is unreachable (${(error as Error).message})`);
    });
    return discovery;
  };

  return {
    async authorizationUrl(state: OidcState): Promise<string> {
      const { meta } = await discover();
      const url = new URL(meta.authorization_endpoint);
      url.search = new URLSearchParams({
        response_type: "code",
        client_id: settings.clientId,
        redirect_uri: settings.redirectUri,
        scope: "openid email profile",
        state: state.state,
        nonce: state.nonce,
        code_challenge: challengeOf(state.verifier),
        code_challenge_method: "S256",
      }).toString();
      return url.toString();
    },

    async complete(origin: Origin, state: OidcState, code: string): Promise<IssuedSession> {
      const { meta, keys } = await discover();
      const form = new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: settings.redirectUri,
        code_verifier: state.verifier,
        client_id: settings.clientId,
      });
      const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
      if (settings.clientSecret) {
        const basic = `${encodeURIComponent(settings.clientId)}:${encodeURIComponent(settings.clientSecret)}`;
        headers.authorization = `Basic ${Buffer.from(basic).toString("base64")}`;
      }
      const response = await fetch(meta.token_endpoint, {
        method: "POST",
        headers,
        body: form,
        signal: AbortSignal.timeout(10_000),
      }).catch(() => {
        throw new UnavailableError("the identity provider is unreachable");
      });
      if (!response.ok) throw refused("the code was not accepted");
      const tokens = (await response.json().catch(() => ({}))) as {
        id_token?: unknown;
        access_token?: unknown;
      };
      if (typeof tokens.id_token !== "string") throw refused("no ID token");
      const claims = await jwtVerify(tokens.id_token, keys, {
        issuer: meta.issuer,
        audience: settings.clientId,
        algorithms: ["RS256", "PS256", "ES256", "EdDSA"],
        requiredClaims: ["sub", "exp", "iat"],
      })
        .then((verified) => verified.payload)
        .catch(() => {
          throw refused("the ID token does not verify");
        });
      if (claims.nonce !== state.nonce) throw refused("nonce mismatch");
      const subject = String(claims.sub);
      // Conforming providers may keep scope claims out of the ID token: ask userinfo then.
      let profile = claims as { email?: unknown; email_verified?: unknown };
      if (claims.email === undefined && meta.userinfo_endpoint && typeof tokens.access_token === "string") {
        const info = await fetch(meta.userinfo_endpoint, {
          headers: { authorization: `Bearer ${tokens.access_token}` },
          signal: AbortSignal.timeout(5_000),
        })
          .then((r) =>
            r.ok ? (r.json() as Promise<{ sub?: unknown; email?: unknown; email_verified?: unknown }>) : null,
          )
          .catch(() => null);
        if (info && info.sub === subject) profile = info;
      }
      const [linked] = await deps.db
        .select({ userId: schema.oidcIdentities.userId })
        .from(schema.oidcIdentities)
        .where(
          and(eq(schema.oidcIdentities.issuer, meta.issuer), eq(schema.oidcIdentities.subject, subject)),
        );
      let user = linked ? await repo.findUserById(deps.db, linked.userId) : undefined;
      if (!user) {
        const email = typeof profile.email === "string" ? profile.email : undefined;
        // Only a provider-verified email may link an existing account.
        if (!email || profile.email_verified !== true)
          throw refused("the provider did not vouch for an email");
        user = await repo.findUserByEmail(deps.db, email);
        if (!user)
          throw new AppError(
            "forbidden",
            "no Perseus account for this identity: sign up or accept an invite first",
          );
        await deps.db
          .insert(schema.oidcIdentities)
          .values({ issuer: meta.issuer, subject, userId: user.id })
          .onConflictDoNothing();
      }
      return sessions.signInVerified(origin, user, state.tenantId);
    },
  };
}
export type OidcService = ReturnType<typeof createOidcService>;
