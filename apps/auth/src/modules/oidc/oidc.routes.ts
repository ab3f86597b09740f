import { AppError } from "@perseus/kit";
import type { AuthConfig } from "../../config.js";
import { originOf } from "../../lib/context.js";
import type { Handlers } from "../../lib/handlers.js";
import { createCookieJar } from "../sessions/sessions.routes.js";
import type { OidcService } from "./oidc.service.js";
import { createStateSealer } from "./oidc-state.js";

const STATE_COOKIE = "perseus_oidc";
const STATE_PATH = "/api/auth/oidc";

export function oidcHandlers(
  service: OidcService | null,
  config: AuthConfig,
): Handlers<"oidcStart" | "oidcCallback"> {
  const sealer = createStateSealer(config.AUTH_KEY_SECRET);
  const cookies = createCookieJar(config);
  // Lax, not Strict: the cookie must ride along the provider's top-level redirect back to us.
  const stateCookie = {
    path: STATE_PATH,
    httpOnly: true,
    secure: config.AUTH_COOKIE_SECURE,
    sameSite: "lax" as const,
  };
  const enabled = () => {
    if (!service) throw new AppError("not_found", "OIDC sign-in is not configured");
    return service;
  };
  const afterLogin = config.AUTH_OIDC_AFTER_LOGIN_URL ?? `${config.PUBLIC_ORIGIN}/`;
  return {
    oidcStart: async ({ query, reply }) => {
      const oidc = enabled();
      const state = sealer.fresh(query.tenantId);
      const url = await oidc.authorizationUrl(state);
      reply.setCookie(STATE_COOKIE, sealer.seal(state), { ...stateCookie, maxAge: 600 });
      reply.header("cache-control", "no-store");
      return reply.redirect(url, 302) as never;
    },
    oidcCallback: async ({ query, request, reply }) => {
      const oidc = enabled();
      const state = sealer.open(request.cookies[STATE_COOKIE]);
      reply.clearCookie(STATE_COOKIE, stateCookie);
      if (query.error) throw new AppError("unauthenticated", `the identity provider refused: ${query.error}`);
      if (!state || !query.code || query.state !== state.state)
        throw new AppError("unauthenticated", "OIDC sign-in failed: missing or mismatched state");
      const issued = await oidc.complete(originOf(request), state, query.code);
      cookies.set(reply, issued);
      return reply.redirect(afterLogin, 302) as never;
    },
  };
}
