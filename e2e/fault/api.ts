/** A small HTTP client for the suite: every call has a timeout and returns the status instead of throwing on 4xx/5xx. */
export type ApiResponse = { status: number; headers: Headers; text: string; json: unknown };

export type ApiClient = {
  readonly baseUrl: string;
  token: string;
  call(
    method: string,
    path: string,
    options?: { body?: unknown; raw?: string; headers?: Record<string, string>; timeoutMs?: number },
  ): Promise<ApiResponse>;
};

export function createApiClient(baseUrl: string, token = ""): ApiClient {
  const client: ApiClient = {
    baseUrl,
    token,
    async call(method, path, { body, raw, headers = {}, timeoutMs = 10_000 } = {}) {
      const response = await fetch(`${baseUrl}${path}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...(raw === undefined ? {} : { "content-type": "text/plain" }),
          ...(client.token ? { authorization: `Bearer ${client.token}` } : {}),
          ...headers,
        },
        body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.text();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: response.status, headers: response.headers, text, json };
    },
  };
  return client;
}

/** Like `call`, but any status other than 2xx throws (for setup steps, which run without faults). */
export async function expectOk<T = unknown>(
  api: ApiClient,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const response = await api.call(method, path, { body, timeoutMs: 30_000 });
  if (response.status < 200 || response.status > 299)
    throw new Error(`${method} ${path} → ${response.status}: ${response.text.slice(0, 500)}`);
  return response.json as T;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
