import type { z } from "zod";

/**
 * A typed JSON client for the platform's edge, as the tests' person uses it: the bearer
 * token is read at each call (it changes after sign-up), a non-2xx answer throws with its
 * body, and the body is parsed with the caller's schema.
 */
export function edgeApi(baseUrl: () => string, token: () => string | null | undefined) {
  return async function api<T extends z.ZodType>(
    schema: T,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<z.infer<T>> {
    const bearer = token();
    const response = await fetch(`${baseUrl()}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} → ${response.status}: ${text}`);
    return schema.parse(text ? JSON.parse(text) : {});
  };
}
