import { type Tracer, trace } from "@opentelemetry/api";

/**
 * Whether this process exports traces. Every helper checks it first, so a process without
 * an OTLP endpoint creates no span objects and carries no trace context at all.
 */
let isEnabled = false;
let tracer: Tracer | undefined;

export function isTracingEnabled(): boolean {
  return isEnabled;
}

/** The process's tracer (only meaningful while tracing is enabled). */
export function perseusTracer(): Tracer {
  tracer ??= trace.getTracer("perseus");
  return tracer;
}

export function setTracingEnabled(enabled: boolean): void {
  isEnabled = enabled;
  tracer = undefined;
}
