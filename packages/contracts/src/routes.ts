import type { z } from "zod";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** Who may call a route: nobody in particular, a signed-in person, a robot, or either. */
export type RouteAuth = "public" | "user" | "robot" | "user-or-robot";

/**
 * One HTTP route of a service, declared once here and used three ways: the server
 * validates requests and serialises responses with it, the API client parses responses
 * with it, and the OpenAPI document is generated from it.
 */
export type RouteSpec = {
  method: HttpMethod;
  /** Path relative to the service prefix, with `:param` segments (Fastify syntax). */
  path: string;
  summary: string;
  /** Longer OpenAPI description (Markdown): semantics a summary line cannot carry. */
  description?: string;
  tags?: readonly string[];
  auth: RouteAuth;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  headers?: z.ZodType;
  /** Success responses by status code; errors are always `Problem`. */
  responses: { [status: number]: z.ZodType };
};

/** Identity function that keeps the literal types of a route declaration. */
export function defineRoute<const R extends RouteSpec>(route: R): R {
  return route;
}

/** A service's whole API surface: a name for each route. */
export type RouteTable = Record<string, RouteSpec>;

type Infer<S> = S extends z.ZodType ? z.infer<S> : undefined;
type InferInput<S> = S extends z.ZodType ? z.input<S> : undefined;

export type RouteParams<R extends RouteSpec> = Infer<R["params"]>;
export type RouteQuery<R extends RouteSpec> = Infer<R["query"]>;
export type RouteBody<R extends RouteSpec> = Infer<R["body"]>;
/** What a client passes: inputs before defaults are applied. */
export type RouteInput<R extends RouteSpec> = {
  params: InferInput<R["params"]>;
  query: InferInput<R["query"]>;
  body: InferInput<R["body"]>;
};
/** The union of the route's success bodies. */
export type RouteResponse<R extends RouteSpec> = {
  [S in keyof R["responses"]]: Infer<R["responses"][S]>;
}[keyof R["responses"]];

/** Fills `:param` segments of a route path, URL-encoding each value. */
export function buildPath(path: string, params: Record<string, unknown> | undefined): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => {
    const value = params?.[name];
    if (value === undefined || value === null) throw new Error(`missing path parameter '${name}'`);
    return encodeURIComponent(String(value));
  });
}
