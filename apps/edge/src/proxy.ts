import type { IncomingHttpHeaders } from "node:http";
import httpProxy from "@fastify/http-proxy";
import { type Problem, problemType } from "@perseus/contracts";
import { lingerAfterEarlyAnswer, requestTraceCarrier, sendProblem } from "@perseus/kit";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { UpstreamPool } from "./upstreams.js";

/** Errors that mean "the connection never reached the upstream": safe to try another one. */
const CONNECT_FAILURES = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
]);

export type ProxyOptions = {
  pool: UpstreamPool;
  trustProxy: boolean;
  timeoutMs: number;
  wsMaxPayload: number;
  /** Told when a proxied WebSocket opens and closes (the open-connections gauge). */
  webSockets?: { opened(): void; closed(): void };
};

function gatewayProblem(request: FastifyRequest, status: 502 | 503 | 504, detail: string): Problem {
  const titles = { 502: "Bad gateway", 503: "Service unavailable", 504: "Gateway timeout" };
  return {
    type: problemType("unavailable"),
    title: titles[status],
    status,
    code: "unavailable",
    detail,
    requestId: request.id,
    retryAfter: 1,
  };
}

function sendGatewayProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  status: 502 | 503 | 504,
  detail: string,
) {
  return sendProblem(reply, gatewayProblem(request, status, detail), { "retry-after": "1" });
}

/** The code of the low-level error under a reply-from error (its `cause`), e.g. ECONNREFUSED. */
function rootCode(error: unknown): string {
  const e = error as { code?: string; cause?: { code?: string } };
  return e.cause?.code ?? e.code ?? "unknown";
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers["content-length"];
  return (length !== undefined && length !== "0") || request.headers["transfer-encoding"] !== undefined;
}

/**
 * Headers the services rely on: the request id (one id across edge and service logs),
 * X-Forwarded-* and, with tracing on, the edge span's `traceparent`. A client's own
 * X-Forwarded-For is dropped unless the edge itself sits behind a trusted proxy, so a
 * client cannot choose the address rate limits and audit see.
 */
export function forwardedHeaders(
  request: FastifyRequest,
  headers: IncomingHttpHeaders,
  trustProxy: boolean,
): IncomingHttpHeaders {
  const remote = request.socket.remoteAddress ?? "";
  const prior = trustProxy ? headers["x-forwarded-for"] : undefined;
  // With tracing on, the service continues the edge's span; otherwise a caller's traceparent passes as is.
  const trace = requestTraceCarrier(request);
  return {
    ...headers,
    "x-request-id": request.id,
    "x-forwarded-for": prior ? `${prior}, ${remote}` : remote,
    "x-forwarded-proto": request.protocol,
    "x-forwarded-host": request.host,
    ...(trace?.traceparent ? { traceparent: trace.traceparent } : {}),
    ...(trace?.tracestate ? { tracestate: trace.tracestate } : {}),
  };
}

/** The headers a proxied WebSocket handshake carries upstream (the library forwards only cookies). */
function webSocketHeaders(request: FastifyRequest, trustProxy: boolean): Record<string, string> {
  const pass = ["authorization", "cookie", "origin", "user-agent", "accept-language"];
  const headers: Record<string, string> = {};
  for (const name of pass) {
    const value = request.headers[name];
    if (typeof value === "string") headers[name] = value;
  }
  const forwarded = forwardedHeaders(request, {}, trustProxy);
  for (const [name, value] of Object.entries(forwarded)) if (typeof value === "string") headers[name] = value;
  if (trustProxy && typeof request.headers["x-forwarded-for"] === "string") {
    headers["x-forwarded-for"] =
      `${request.headers["x-forwarded-for"]}, ${request.socket.remoteAddress ?? ""}`;
  }
  return headers;
}

/**
 * Proxies `<prefix>/*` (HTTP and WebSocket upgrades) to the pool's ready upstreams, one
 * picked per request or connection in round-robin order. With none ready the answer is
 * 503 problem+json; a refused connection marks that upstream down and, when the request
 * has no body (so nothing was consumed), is retried once on another upstream.
 */
export async function registerServiceProxy(app: FastifyInstance, prefix: string, options: ProxyOptions) {
  const { pool, trustProxy } = options;
  const chosen = new WeakMap<FastifyRequest, string>();

  await app.register(
    async (scope) => {
      scope.addHook("onRequest", async (request, reply) => {
        const upstream = pool.pick();
        if (!upstream) {
          return sendGatewayProblem(
            request,
            reply,
            503,
            `no ready upstream for ${pool.service}; retry shortly`,
          );
        }
        chosen.set(request, upstream);
      });
      // An upstream that refuses an upload early (412, 413) answers before the body is all
      // here: the client gets that answer, then the rest of its upload is drained briefly
      // instead of the connection being reset under it.
      scope.addHook("onSend", async (request, reply) => {
        lingerAfterEarlyAnswer(request, reply);
      });

      const forward = (
        request: FastifyRequest,
        reply: FastifyReply,
        dest: string,
        upstream: string,
        attempt: number,
      ) => {
        chosen.set(request, upstream);
        return reply.from(dest, {
          getUpstream: () => upstream,
          rewriteRequestHeaders: (req, headers) =>
            forwardedHeaders(req as FastifyRequest, headers, trustProxy),
          // reply-from retries GETs answered 503 on its own; the upstream's answer must pass through as is.
          retryDelay: () => null,
          onError: (raw, { error }) => {
            const failed = raw as unknown as FastifyReply;
            const code = rootCode(error);
            if (CONNECT_FAILURES.has(code)) {
              pool.markFailed(upstream, code);
              const next = attempt === 0 && !hasBody(request) ? pool.pick(upstream) : undefined;
              if (next) {
                request.log.warn(
                  { upstream, next, code },
                  "upstream refused the connection; retrying on another",
                );
                forward(request, failed, dest, next, attempt + 1);
                return;
              }
              request.log.warn({ upstream, code }, "upstream unreachable");
              sendGatewayProblem(request, failed, 503, `${pool.service} is unavailable; retry shortly`);
              return;
            }
            const status = (error as { statusCode?: number }).statusCode === 504 ? 504 : 502;
            request.log.warn({ upstream, code, err: error }, "upstream request failed");
            sendGatewayProblem(
              request,
              failed,
              status,
              status === 504 ? `${pool.service} did not answer in time` : `${pool.service} failed to answer`,
            );
          },
        });
      };

      await scope.register(httpProxy, {
        upstream: "",
        rewritePrefix: prefix,
        websocket: true,
        // The services log every request themselves, under the same request id.
        disableRequestLogging: true,
        destroyAgent: true,
        undici: { headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs, connectTimeout: 5_000 },
        replyOptions: {
          getUpstream: (request) => chosen.get(request as FastifyRequest) ?? "http://127.0.0.1:9",
        },
        handler: (raw, rawReply, dest) => {
          const request = raw as FastifyRequest;
          return forward(request, rawReply as unknown as FastifyReply, dest, chosen.get(request) ?? "", 0);
        },
        wsServerOptions: { maxPayload: options.wsMaxPayload },
        // Called once per linked pair: connect when the upstream socket opened, disconnect once after.
        ...(options.webSockets
          ? {
              wsHooks: {
                onConnect: () => options.webSockets?.opened(),
                onDisconnect: () => options.webSockets?.closed(),
              },
            }
          : {}),
        wsClientOptions: {
          maxPayload: options.wsMaxPayload,
          // Not in the library's types, but supported: the handshake headers sent upstream.
          rewriteRequestHeaders: (_headers: unknown, request: FastifyRequest) =>
            webSocketHeaders(request, trustProxy),
        } as object,
      });
    },
    { prefix },
  );
}
