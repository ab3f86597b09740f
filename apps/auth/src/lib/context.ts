import type { Actor } from "@perseus/kit";
import type { FastifyRequest } from "fastify";

/** What every service call carries: whose data, who acts, and where the request came from. */
export type Ctx = { tenantId: string; actor: Actor; ip: string; requestId: string };

/** Origin of a request, for audit rows of calls that have no actor yet (sign-up, sign-in). */
export type Origin = { ip: string; requestId: string };

export function originOf(request: FastifyRequest): Origin {
  return { ip: request.ip, requestId: request.id };
}

export function contextOf(actor: Actor, request: FastifyRequest): Ctx {
  return { tenantId: actor.tenantId, actor, ...originOf(request) };
}

/** The acting principal as audit rows record it. */
export function actorRef(actor: Actor): { actorType: string; actorId: string } {
  switch (actor.type) {
    case "user":
      return { actorType: "user", actorId: actor.userId };
    case "robot":
      return { actorType: "robot", actorId: actor.robotId };
    case "api_key":
      return { actorType: "api_key", actorId: actor.keyId };
  }
}

/** The signed-in user of a context; API keys act for the user who created them. */
export function actingUserId(actor: Actor): string | null {
  if (actor.type === "user") return actor.userId;
  if (actor.type === "api_key") return actor.createdBy;
  return null;
}
