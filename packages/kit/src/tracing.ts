import {
  type Context,
  captureTrace,
  failSpan,
  isTracingEnabled,
  type Span,
  SpanKind,
  SpanStatusCode,
  shutdownTracing,
  startSpan,
  startTracing,
  type TraceCarrier,
  traceLogFields,
  withContext,
} from "@perseus/tracing";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { BaseConfig } from "./config.js";

/**
 * Starts OpenTelemetry tracing for a service process when its config names an OTLP
 * endpoint (`service.name` = `perseus-<service>`); otherwise does nothing and returns false.
 * Call it in server.ts before building the app: the app adds its request spans and the
 * log lines their trace ids only when tracing is on.
 */
export function startServiceTracing(
  service: string,
  config: Pick<
    BaseConfig,
    | "OTEL_EXPORTER_OTLP_ENDPOINT"
    | "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    | "OTEL_EXPORTER_OTLP_HEADERS"
    | "OTEL_TRACES_SAMPLER_ARG"
  >,
  info: { version: string; instanceId: string },
): Promise<boolean> {
  return startTracing({
    serviceName: `perseus-${service}`,
    serviceVersion: info.version,
    instanceId: info.instanceId,
    endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
    tracesEndpoint: config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    headers: config.OTEL_EXPORTER_OTLP_HEADERS,
    sampleRatio: config.OTEL_TRACES_SAMPLER_ARG,
  });
}

/** Flushes buffered spans to the collector and stops tracing (the last step of a graceful stop). */
export const stopServiceTracing = shutdownTracing;

/** Marks a request's child logger, which already carries the trace ids. */
const kTraced = Symbol.for("perseus.log.traced");

/**
 * Pino mixin (with tracing on only): `trace_id` and `span_id` of the active span on every
 * line logged inside a traced context. Pino merges into the returned object, so it is new
 * each time.
 */
export function traceLogMixin(_object: object, _level: number, logger?: unknown): object {
  if ((logger as Record<symbol, unknown> | undefined)?.[kTraced]) return {};
  return traceLogFields() ?? {};
}

type RequestTrace = { span: Span; context: Context };
const kRequestTrace = Symbol("perseus.request.trace");
type TracedRequest = FastifyRequest & { [kRequestTrace]?: RequestTrace };

/** The server span of a request (undefined when tracing is off or the route is not traced). */
export function requestSpanOf(request: FastifyRequest): RequestTrace | undefined {
  return (request as TracedRequest)[kRequestTrace];
}

/** The trace context to send upstream for a request: its server span's (undefined when not traced). */
export function requestTraceCarrier(request: FastifyRequest): TraceCarrier | undefined {
  const traced = requestSpanOf(request);
  return traced ? captureTrace(traced.context) : undefined;
}

/** Probes and long-lived upgrades make no spans: one per poll would drown the traces. */
const UNTRACED_ROUTES = new Set(["/healthz", "/readyz", "/metrics"]);

const header = (value: string | string[] | undefined) => (typeof value === "string" ? value : undefined);

function pathOf(url: string) {
  const query = url.indexOf("?");
  return query < 0 ? url : url.slice(0, query);
}

/**
 * A server span per HTTP request, continuing an incoming `traceparent`. It starts in
 * onRequest, becomes the active context from preHandler on (so the handler's queries,
 * events and log lines belong to it) and ends in onResponse. The request's logger is a
 * child carrying `trace_id`/`span_id`, so the access line carries them too. Nothing is
 * registered when tracing is off: the hot path stays as it was.
 */
export function registerRequestTracing(app: FastifyInstance): void {
  if (!isTracingEnabled()) return;
  app.addHook("onRequest", (request, reply, done) => {
    const route = request.routeOptions.url;
    if ((route && UNTRACED_ROUTES.has(route)) || request.headers.upgrade) return done();
    const started = startSpan(route ? `${request.method} ${route}` : request.method, {
      kind: SpanKind.SERVER,
      parent: {
        traceparent: header(request.headers.traceparent),
        tracestate: header(request.headers.tracestate),
      },
      attributes: {
        "http.request.method": request.method,
        "url.path": pathOf(request.url),
        ...(route ? { "http.route": route } : {}),
        "client.address": request.ip,
        "perseus.request_id": request.id,
      },
    });
    if (!started) return done();
    (request as TracedRequest)[kRequestTrace] = started;
    const fields = traceLogFields(started.context);
    if (fields) {
      const log = request.log.child(fields) as typeof request.log & { [kTraced]?: boolean };
      log[kTraced] = true;
      request.log = log;
      reply.log = log;
    }
    done();
  });
  app.addHook("preHandler", (request, _reply, done) => {
    const traced = requestSpanOf(request);
    if (traced) withContext(traced.context, done);
    else done();
  });
  app.addHook("onError", async (request, _reply, error) => {
    const traced = requestSpanOf(request);
    if (traced) failSpan(traced.span, error);
  });
  app.addHook("onResponse", async (request, reply) => {
    const traced = requestSpanOf(request);
    if (!traced) return;
    traced.span.setAttribute("http.response.status_code", reply.statusCode);
    if (reply.statusCode >= 500) traced.span.setStatus({ code: SpanStatusCode.ERROR });
    traced.span.end();
  });
}
