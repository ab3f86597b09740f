import {
  type Attributes,
  type Context,
  context,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { isTracingEnabled, perseusTracer } from "./state.js";

export { type Context, type Span, SpanKind, SpanStatusCode };

/**
 * W3C trace context as it travels in event envelopes, job data and robot frames
 * (structurally the contracts' `TraceContext`).
 */
export type TraceCarrier = { traceparent?: string | undefined; tracestate?: string | undefined };

const isContext = (value: unknown): value is Context =>
  typeof (value as Context | undefined)?.getValue === "function";

/**
 * The trace context of `ctx` (default: the active one) as a carrier to put on the wire, or
 * undefined when tracing is off or no span is active: nothing is then added to the message.
 */
export function captureTrace(ctx?: Context): TraceCarrier | undefined {
  if (!isTracingEnabled()) return undefined;
  const from = ctx ?? context.active();
  if (!trace.getSpanContext(from)) return undefined;
  const carrier: TraceCarrier = {};
  propagation.inject(from, carrier);
  return carrier.traceparent ? carrier : undefined;
}

/** The carrier of one span (e.g. to send with a frame the span's work produced). */
export function spanCarrier(span: Span | undefined): TraceCarrier | undefined {
  return span ? captureTrace(trace.setSpan(ROOT_CONTEXT, span)) : undefined;
}

/** A context continuing the carrier's trace (the root context when there is none, or tracing is off). */
export function contextFrom(carrier: TraceCarrier | null | undefined): Context {
  if (!isTracingEnabled() || !carrier?.traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, carrier);
}

export type StartSpanOptions = {
  kind?: SpanKind;
  attributes?: Attributes;
  /**
   * The parent: a context, a carrier from the wire (null or a carrier without traceparent
   * starts a new trace), or, when omitted, the active context.
   */
  parent?: Context | TraceCarrier | null;
  /** Related traces that are not the parent (a batch's members). */
  links?: readonly TraceCarrier[];
  startTime?: number;
};

function parentOf(options: StartSpanOptions): Context {
  if (options.parent === undefined) return context.active();
  return isContext(options.parent) ? options.parent : contextFrom(options.parent);
}

function linksOf(carriers: readonly TraceCarrier[] | undefined): Link[] | undefined {
  if (!carriers?.length) return undefined;
  const links: Link[] = [];
  for (const carrier of carriers) {
    const spanContext = trace.getSpanContext(contextFrom(carrier));
    if (spanContext) links.push({ context: spanContext });
  }
  return links;
}

/**
 * Starts a span the caller ends; undefined when tracing is off (no object is made). With
 * the context it runs under, for `context.with` or `captureTrace`.
 */
export function startSpan(
  name: string,
  options: StartSpanOptions = {},
): { span: Span; context: Context } | undefined {
  if (!isTracingEnabled()) return undefined;
  const parent = parentOf(options);
  const links = linksOf(options.links);
  const span = perseusTracer().startSpan(
    name,
    {
      ...(options.kind === undefined ? {} : { kind: options.kind }),
      ...(options.attributes ? { attributes: options.attributes } : {}),
      ...(links ? { links } : {}),
      ...(options.startTime === undefined ? {} : { startTime: options.startTime }),
    },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}

/** Marks a span failed with the error's message (and records the exception). */
export function failSpan(span: Span, error: unknown): void {
  const exception = error instanceof Error ? error : new Error(String(error));
  span.recordException(exception);
  span.setStatus({ code: SpanStatusCode.ERROR, message: exception.message });
}

/**
 * Runs `fn` inside a new span, which ends when `fn` settles (failed when it throws). With
 * tracing off it is just `fn()`.
 */
export async function inSpan<T>(
  name: string,
  options: StartSpanOptions,
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  const started = startSpan(name, options);
  if (!started) return fn(undefined);
  const { span } = started;
  return context.with(started.context, async () => {
    try {
      return await fn(span);
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** The active context, to resume later with `withContext` (undefined when tracing is off). */
export function activeContext(): Context | undefined {
  return isTracingEnabled() ? context.active() : undefined;
}

/** Runs `fn` with `ctx` active (so events and logs inside it belong to that trace). */
export function withContext<T>(ctx: Context | undefined, fn: () => T): T {
  return ctx && isTracingEnabled() ? context.with(ctx, fn) : fn();
}

/** The active span's ids for a log line, or undefined (tracing off, or no span active). */
export function traceLogFields(ctx?: Context): { trace_id: string; span_id: string } | undefined {
  if (!isTracingEnabled()) return undefined;
  const spanContext = trace.getSpanContext(ctx ?? context.active());
  return spanContext ? { trace_id: spanContext.traceId, span_id: spanContext.spanId } : undefined;
}
