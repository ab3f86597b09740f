import type { SessionResponse } from "@perseus/contracts";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { AuthConfig } from "../../config.js";
import { contextOf, originOf } from "../../lib/context.js";
import { type Handlers, requireUser } from "../../lib/handlers.js";
import type { IssuedSession, SessionsService } from "./sessions.service.js";

export const REFRESH_COOKIE = "perseus_refresh";
export const COOKIE_PATH = "/api/auth";

/** The refresh credential lives only in this cookie: httpOnly, SameSite=Strict, scoped to /api/auth. */
export function createCookieJar(config: Pick<AuthConfig, "AUTH_COOKIE_SECURE" | "AUTH_REFRESH_TTL_DAYS">) {
  const base = {
    path: COOKIE_PATH,
    httpOnly: true,
    secure: config.AUTH_COOKIE_SECURE,
    sameSite: "strict" as const,
  };
  return {
    read: (request: FastifyRequest): string | undefined => request.cookies[REFRESH_COOKIE],
    set(reply: FastifyReply, issued: IssuedSession): SessionResponse {
      reply.setCookie(REFRESH_COOKIE, issued.refreshSecret, {
        ...base,
        maxAge: config.AUTH_REFRESH_TTL_DAYS * 86_400,
      });
      reply.header("cache-control", "no-store");
      return issued.session;
    },
    clear: (reply: FastifyReply) => reply.clearCookie(REFRESH_COOKIE, base),
  };
}

export function sessionsHandlers(
  service: SessionsService,
  config: AuthConfig,
): Handlers<"signup" | "login" | "refresh" | "logout" | "logoutAll" | "me" | "switchTenant"> {
  const cookies = createCookieJar(config);
  return {
    signup: async ({ body, request, reply }) => {
      const issued = await service.signup(originOf(request), body);
      reply.code(201);
      return { ...cookies.set(reply, issued), teamId: issued.teamId, chatgroupId: issued.chatgroupId };
    },
    login: async ({ body, request, reply }) =>
      cookies.set(reply, await service.login(originOf(request), body)),
    refresh: async ({ request, reply }) => {
      try {
        return cookies.set(reply, await service.refresh(originOf(request), cookies.read(request)));
      } catch (error) {
        cookies.clear(reply);
        throw error;
      }
    },
    logout: async ({ request, reply }) => {
      await service.logout(originOf(request), cookies.read(request));
      cookies.clear(reply);
      reply.code(204);
      return null;
    },
    logoutAll: async ({ actor, request, reply }) => {
      const user = requireUser(actor);
      await service.logoutAll({ ...contextOf(user, request), actor: user });
      cookies.clear(reply);
      reply.code(204);
      return null;
    },
    me: async ({ actor, request }) => {
      const user = requireUser(actor);
      return service.me({ ...contextOf(user, request), actor: user });
    },
    switchTenant: async ({ actor, body, request, reply }) => {
      const user = requireUser(actor);
      reply.header("cache-control", "no-store");
      return service.switchTenant({ ...contextOf(user, request), actor: user }, body.tenantId);
    },
  };
}
