import { Writable } from "node:stream";
import { ProxyTracerProvider, type Tracer, trace } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { createEvent } from "@perseus/bus";
import { defineRoute } from "@perseus/contracts";
import { isTracingEnabled, shutdownTracing, startTracing } from "@perseus/tracing";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  BaseConfig,
  createServiceApp,
  loggerOptions,
  registerRoutes,
  startServiceTracing,
} from "../src/index.js";

const TENANT = "0190a7a2-0000-7000-8000-000000000001";
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
const traceparent = `00-${TRACE_ID}-${CALLER_SPAN}-01`;

const routes = {
  announce: defineRoute({
    method: "POST",
    path: "/announce",
    summary: "Writes an event, as a handler that changes state does",
    auth: "public",
    body: z.object({}),
    responses: { 200: z.object({ trace: z.unknown() }) },
  }),
};

/** A service app whose log lines land in `lines`, with one route that builds an event. */
async function buildTestApp(lines: Record<string, unknown>[]) {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  const logger = pino(loggerOptions({ level: "info", service: "kit-test", instanceId: "kit-test-1" }), sink);
  const app = await createServiceApp({
    name: "kit-test",
    version: "0.0.0",
    prefix: "/api/kit",
    description: "tracing test",
    logger,
    checks: [],
  });
  registerRoutes(app, "/api/kit", routes, {
    announce: async ({ request }) => {
      request.log.info("announcing");
      const event = createEvent("file.changed", TENANT, {
        layer: "tenant",
        layerId: TENANT,
        path: "/a.txt",
        change: "created",
        etag: null,
      });
      return { trace: event.trace ?? null };
    },
  });
  await app.ready();
  return app;
}

/** Counts every span any tracer is asked for, through the global API. */
function spyOnSpans() {
  const real = new ProxyTracerProvider();
  const counter = { spans: 0 };
  trace.setGlobalTracerProvider({
    getTracer(name, version) {
      const tracer = real.getTracer(name, version);
      return new Proxy(tracer, {
        get(target, key) {
          if (key === "startSpan" || key === "startActiveSpan") counter.spans++;
          return Reflect.get(target, key) as Tracer[keyof Tracer];
        },
      });
    },
  });
  return counter;
}

describe("tracing off (no OTLP endpoint configured)", () => {
  it("starts nothing, makes no span and adds no trace context or log fields", async () => {
    const config = BaseConfig.parse({ OTEL_EXPORTER_OTLP_ENDPOINT: "" });
    expect(config.OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
    expect(await startServiceTracing("kit-test", config, { version: "0", instanceId: "i" })).toBe(false);
    expect(isTracingEnabled()).toBe(false);

    const counter = spyOnSpans();
    const lines: Record<string, unknown>[] = [];
    const app = await buildTestApp(lines);
    try {
      const response = await app.inject({
        method: "POST",
        url: "/api/kit/announce",
        payload: {},
        headers: { traceparent },
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ trace: null });
      expect(counter.spans).toBe(0);
      expect(lines.some((line) => line.msg === "announcing")).toBe(true);
      expect(lines.filter((line) => "trace_id" in line || "span_id" in line)).toEqual([]);
    } finally {
      await app.close();
      trace.disable();
    }
  });
});

describe("tracing on", () => {
  const exporter = new InMemorySpanExporter();
  afterAll(() => shutdownTracing());

  it("makes a server span continuing the caller's trace; events and log lines carry it", async () => {
    expect(
      await startTracing({ serviceName: "perseus-kit-test", serviceVersion: "0", instanceId: "i", exporter }),
    ).toBe(true);
    const lines: Record<string, unknown>[] = [];
    const app = await buildTestApp(lines);
    try {
      const response = await app.inject({
        method: "POST",
        url: "/api/kit/announce",
        payload: {},
        headers: { traceparent },
      });
      expect(response.statusCode).toBe(200);
      await app.inject({ method: "GET", url: "/healthz" });

      const spans = exporter.getFinishedSpans();
      expect(spans.map((span) => span.name)).toEqual(["POST /api/kit/announce"]);
      const [server] = spans;
      expect(server?.spanContext().traceId).toBe(TRACE_ID);
      expect(server?.parentSpanContext?.spanId).toBe(CALLER_SPAN);
      expect(server?.attributes["http.response.status_code"]).toBe(200);
      expect(server?.resource.attributes["service.name"]).toBe("perseus-kit-test");

      const spanId = server?.spanContext().spanId;
      expect(response.json()).toEqual({ trace: { traceparent: `00-${TRACE_ID}-${spanId}-01` } });
      const announcing = lines.find((line) => line.msg === "announcing");
      expect(announcing).toMatchObject({ trace_id: TRACE_ID, span_id: spanId });
      const access = lines.find((line) => line.msg === "request completed");
      expect(access).toMatchObject({ trace_id: TRACE_ID, span_id: spanId });
    } finally {
      await app.close();
    }
  });
});
