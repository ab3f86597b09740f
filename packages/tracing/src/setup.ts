import { context, propagation, trace } from "@opentelemetry/api";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import { setTracingEnabled } from "./state.js";

export type TracingOptions = {
  /** `service.name`, e.g. `perseus-chat`. */
  serviceName: string;
  serviceVersion: string;
  /** `service.instance.id`: the replica (the same id its logs and registry entry carry). */
  instanceId: string;
  /** OTLP/HTTP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`); traces go to `<endpoint>/v1/traces`. */
  endpoint?: string | undefined;
  /** Full OTLP/HTTP traces URL (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); wins over `endpoint`. */
  tracesEndpoint?: string | undefined;
  /** Extra headers on every export (an API key of a hosted collector). */
  headers?: Record<string, string> | undefined;
  /** Share of new traces recorded (0..1); a trace started elsewhere follows its parent's decision. */
  sampleRatio?: number | undefined;
  /** Tests: export here instead of over OTLP (spans are handed over one by one, at once). */
  exporter?: SpanExporter | undefined;
};

type Shutdown = () => Promise<void>;
let shutdown: Shutdown | undefined;

/** The traces URL the options name, or undefined when tracing is not configured. */
export function tracesUrlOf(
  options: Pick<TracingOptions, "endpoint" | "tracesEndpoint">,
): string | undefined {
  if (options.tracesEndpoint) return options.tracesEndpoint;
  if (options.endpoint) return `${options.endpoint.replace(/\/+$/, "")}/v1/traces`;
  return undefined;
}

/**
 * Starts tracing for this process when an OTLP endpoint (or a test exporter) is given:
 * W3C trace-context propagation, AsyncLocalStorage context, parent-based ratio sampling and
 * a batching OTLP/HTTP (JSON) exporter. Without one it does nothing and returns false; the
 * SDK is then never even loaded. Call once, before the app is built.
 */
export async function startTracing(options: TracingOptions): Promise<boolean> {
  const url = tracesUrlOf(options);
  if (!url && !options.exporter) return false;
  if (shutdown) throw new Error("tracing is already started in this process");
  const [{ AsyncLocalStorageContextManager }, core, resources, sdk, otlp] = await Promise.all([
    import("@opentelemetry/context-async-hooks"),
    import("@opentelemetry/core"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/sdk-trace-base"),
    import("@opentelemetry/exporter-trace-otlp-http"),
  ]);
  const processor = options.exporter
    ? new sdk.SimpleSpanProcessor(options.exporter)
    : new sdk.BatchSpanProcessor(new otlp.OTLPTraceExporter({ url, headers: options.headers ?? {} }));
  const provider = new sdk.BasicTracerProvider({
    resource: resources.resourceFromAttributes({
      "service.name": options.serviceName,
      "service.namespace": "perseus",
      "service.version": options.serviceVersion,
      "service.instance.id": options.instanceId,
    }),
    sampler: new sdk.ParentBasedSampler({
      root: new sdk.TraceIdRatioBasedSampler(options.sampleRatio ?? 1),
    }),
    spanProcessors: [processor],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new core.W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  setTracingEnabled(true);
  shutdown = async () => {
    setTracingEnabled(false);
    try {
      await provider.shutdown();
    } finally {
      trace.disable();
      propagation.disable();
      context.disable();
    }
  };
  return true;
}

/** Exports what is still buffered and stops tracing (graceful shutdown). Safe to call when not started. */
export async function shutdownTracing(): Promise<void> {
  const stop = shutdown;
  shutdown = undefined;
  await stop?.();
}
