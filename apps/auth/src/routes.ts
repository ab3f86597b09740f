import { type AuthRoutes, authRoutes, type RouteSpec } from "@perseus/contracts";
import { type HandlerInput, type RouteHandler, type RouteHandlers, registerRoutes } from "@perseus/kit";
import type { FastifyInstance } from "fastify";
import { authorize, routeActions } from "./rbac.js";

export const PREFIX = "/api/auth";

/**
 * Registers every auth route with its RBAC check in front of the handler. A route with no
 * RBAC action cannot be registered: the check is not something a handler can forget.
 */
export function registerAuthRoutes(app: FastifyInstance, handlers: RouteHandlers<AuthRoutes>): void {
  const guarded: Record<string, RouteHandler<RouteSpec>> = {};
  for (const name of Object.keys(authRoutes) as (keyof AuthRoutes)[]) {
    const action = routeActions[name];
    if (!action) throw new Error(`route '${name}' has no RBAC action`);
    const handler = handlers[name] as unknown as RouteHandler<RouteSpec>;
    guarded[name] = async (input: HandlerInput<RouteSpec>) => {
      authorize(input.actor, action);
      return handler(input);
    };
  }
  registerRoutes(app, PREFIX, authRoutes, guarded as unknown as RouteHandlers<AuthRoutes>);
}
