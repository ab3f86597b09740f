import type { Actor } from "@perseus/kit";
import type { FastifyRequest } from "fastify";

/** What every service call carries: whose data, who is acting, and where the call came from (for audit). */
export type ServiceContext = { tenantId: string; actor: Actor; requestId?: string; ip?: string };

export function contextOf(actor: Actor, request?: FastifyRequest): ServiceContext {
  return { tenantId: actor.tenantId, actor, requestId: request?.id, ip: request?.ip };
}

/** The acting user's id, or null for robots and API keys. */
export function userIdOf(actor: Actor): string | null {
  return actor.type === "user" ? actor.userId : null;
}
