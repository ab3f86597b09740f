import { buildPath, type RouteInput, type RouteResponse, type RouteSpec } from "@perseus/contracts";
import type { z } from "zod";
import { ContractError, errorFromResponse, networkError } from "./errors.js";

export type ApiClientOptions = {
  /** Origin of the edge; empty means "this origin" (the console is served by the edge). */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** The current access token, sent as `Authorization: Bearer`. */
  getAccessToken?: () => string | null | undefined;
  /**
   * Called once after a 401 to a request that carried `usedToken`; answers whether a newer
   * token exists (e.g. after a refresh), in which case the request is sent once more.
   */
  onUnauthorized?: (usedToken: string | null) => Promise<boolean>;
};

/** What a call passes: the route's inputs (only those it declares) and an abort signal. */
export type CallInput<R extends RouteSpec> = Partial<RouteInput<R>> & {
  signal?: AbortSignal;
  /** Extra request headers the route declares (e.g. `if-match`). */
  headers?: Record<string, string>;
};

function queryString(query: unknown): string {
  if (!query || typeof query !== "object") return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) params.append(key, String(item));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

function parseWith<S extends z.ZodType>(schema: S, body: unknown, url: string, status: number): z.infer<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`);
  throw new ContractError(url, status, issues);
}

/**
 * The console's one way to talk to the platform: requests are built from the route
 * contracts, successful answers are parsed with the same zod schemas the servers
 * validate with, and problem+json answers become typed {@link ApiError}s.
 */
export function createApiClient(options: ApiClientOptions = {}) {
  const baseUrl = options.baseUrl ?? "";
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));

  async function sendOnce(
    url: string,
    init: RequestInit,
  ): Promise<{ response: Response; token: string | null }> {
    const headers = new Headers(init.headers);
    headers.set("accept", "application/json, application/problem+json");
    const token = options.getAccessToken?.() ?? null;
    if (token) headers.set("authorization", `Bearer ${token}`);
    try {
      return {
        response: await doFetch(`${baseUrl}${url}`, { ...init, headers, credentials: "same-origin" }),
        token,
      };
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw networkError(error);
    }
  }

  /** One retry after a 401, and only when the session has a newer token to offer. */
  async function send(url: string, init: RequestInit): Promise<Response> {
    const first = await sendOnce(url, init);
    if (first.response.status !== 401 || !options.onUnauthorized) return first.response;
    if (!(await options.onUnauthorized(first.token))) return first.response;
    return (await sendOnce(url, init)).response;
  }

  async function readJson(response: Response): Promise<unknown> {
    if (response.status === 204) return null;
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  return {
    /** Calls one route of a service (`prefix` is e.g. `/api/auth`). */
    async call<R extends RouteSpec>(
      prefix: string,
      route: R,
      input: CallInput<R> = {},
    ): Promise<RouteResponse<R>> {
      const path = `${prefix}${buildPath(route.path, input.params as Record<string, unknown> | undefined)}`;
      const url = `${path}${queryString(input.query)}`;
      const hasBody = input.body !== undefined;
      const headers: Record<string, string> = { ...input.headers };
      if (hasBody) headers["content-type"] = "application/json";
      const response = await send(url, {
        method: route.method,
        headers,
        ...(hasBody ? { body: JSON.stringify(input.body) } : {}),
        ...(input.signal ? { signal: input.signal } : {}),
      });
      if (!response.ok) throw await errorFromResponse(response);
      const schema = route.responses[response.status];
      if (!schema) throw new ContractError(url, response.status, ["status not declared by the route"]);
      return parseWith(schema, await readJson(response), url, response.status) as RouteResponse<R>;
    },

    /** GET of an endpoint outside the route tables (e.g. the edge's status), parsed with `schema`. */
    async get<S extends z.ZodType>(
      url: string,
      schema: S,
      init: { signal?: AbortSignal } = {},
    ): Promise<z.infer<S>> {
      const response = await send(url, { method: "GET", ...(init.signal ? { signal: init.signal } : {}) });
      if (!response.ok) throw await errorFromResponse(response);
      return parseWith(schema, await readJson(response), url, response.status);
    },

    /** A raw request with the session's token and the 401 retry (uploads, downloads, streams). */
    fetch: send,
  };
}

export type ApiClient = ReturnType<typeof createApiClient>;
