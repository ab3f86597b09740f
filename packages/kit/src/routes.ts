import type { RouteResponse, RouteSpec, RouteTable } from "@perseus/contracts";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { z } from "zod";
import type { Actor } from "./auth-types.js";
import { ForbiddenError, UnauthenticatedError } from "./errors.js";

type Infer<S> = S extends z.ZodType ? z.output<S> : undefined;

/** What a route handler receives: parsed inputs (already validated), the actor, and the raw request/reply. */
export type HandlerInput<R extends RouteSpec> = {
  params: Infer<R["params"]>;
  query: Infer<R["query"]>;
  body: Infer<R["body"]>;
  headers: Infer<R["headers"]>;
  actor: R["auth"] extends "public" ? Actor | undefined : Actor;
  request: FastifyRequest;
  reply: FastifyReply;
};

export type RouteHandler<R extends RouteSpec> = (input: HandlerInput<R>) => Promise<RouteResponse<R>>;
export type RouteHandlers<T extends RouteTable> = { [K in keyof T]: RouteHandler<T[K]> };

function acceptsActor(spec: RouteSpec, actor: Actor): boolean {
  switch (spec.auth) {
    case "user":
      return actor.type === "user" || actor.type === "api_key";
    case "robot":
      return actor.type === "robot";
    case "user-or-robot":
      return true;
    case "public":
      return true;
  }
}

/**
 * Registers every route of a table under `prefix`, with the contract's schemas for
 * validation, serialisation and OpenAPI. Non-public routes authenticate first, with
 * the authenticator the auth plugin installed; registering one without it is a bug.
 */
export function registerRoutes<T extends RouteTable>(
  app: FastifyInstance,
  prefix: string,
  routes: T,
  handlers: RouteHandlers<T>,
): void {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  for (const [name, spec] of Object.entries(routes) as [keyof T & string, RouteSpec][]) {
    const handler = handlers[name] as unknown as RouteHandler<RouteSpec>;
    if (!handler) throw new Error(`route '${name}' has no handler`);
    typed.route({
      method: spec.method,
      url: `${prefix}${spec.path}`,
      schema: {
        operationId: name,
        summary: spec.summary,
        ...(spec.description ? { description: spec.description } : {}),
        ...(spec.tags ? { tags: [...spec.tags] } : {}),
        ...(spec.params ? { params: spec.params } : {}),
        ...(spec.query ? { querystring: spec.query } : {}),
        ...(spec.body ? { body: spec.body } : {}),
        ...(spec.headers ? { headers: spec.headers } : {}),
        response: spec.responses,
        ...(spec.auth === "public" ? {} : { security: [{ bearer: [] }] }),
      },
      handler: async (request, reply) => {
        let actor: Actor | undefined;
        if (spec.auth !== "public") {
          if (!app.authenticate)
            throw new Error(`route ${name} needs authentication but no authenticator is installed`);
          actor = await app.authenticate(request);
          if (!acceptsActor(spec, actor)) throw new ForbiddenError("this credential may not call this route");
          request.actor = actor;
        } else if (app.authenticate && request.headers.authorization) {
          actor = await app.authenticate(request).catch(() => undefined);
        }
        if (spec.auth !== "public" && !actor) throw new UnauthenticatedError();
        return handler({
          params: request.params,
          query: request.query,
          body: request.body,
          headers: request.headers,
          actor,
          request,
          reply,
        } as HandlerInput<RouteSpec>);
      },
    });
  }
}
