import type { AuthRoutes } from "@perseus/contracts";
import { type Actor, ForbiddenError, type RouteHandlers } from "@perseus/kit";

/** Handlers of some of the auth routes; app.ts merges every module's into the full table. */
export type Handlers<K extends keyof AuthRoutes> = Pick<RouteHandlers<AuthRoutes>, K>;

export type UserActor = Extract<Actor, { type: "user" }>;

/** Routes about the caller's own session need a person, not an API key acting for one. */
export function requireUser(actor: Actor): UserActor {
  if (actor.type !== "user") throw new ForbiddenError("only a signed-in person may do this");
  return actor;
}
