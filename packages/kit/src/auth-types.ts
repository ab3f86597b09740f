import type { FastifyRequest } from "fastify";

export type TenantRole = "owner" | "admin" | "user";

/**
 * Who is calling, as established by the server from a verified credential. Scopes and
 * roles come from our own records, never from what a client declares.
 */
export type Actor =
  | { type: "user"; userId: string; tenantId: string; role: TenantRole; sessionId?: string }
  | {
      type: "robot";
      robotId: string;
      tenantId: string;
      handle: string;
      /** Set when the robot authenticated with a task token: access is bound to this task's lease. */
      task?: { taskId: string; epoch: number; chatgroupId: string | null; teamId: string | null };
    }
  | { type: "api_key"; keyId: string; tenantId: string; scopes: string[]; createdBy: string };

/** Establishes the actor of a request, or throws UnauthenticatedError. Provided by the auth plugin. */
export type Authenticator = (request: FastifyRequest) => Promise<Actor>;

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the route's authentication step; undefined on public routes. */
    actor?: Actor;
  }
  interface FastifyInstance {
    authenticate?: Authenticator;
  }
}
