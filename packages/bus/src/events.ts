import {
  type DomainEvent,
  EventEnvelope,
  type EventType,
  eventCatalog,
  isEventType,
  type TraceContext,
} from "@perseus/contracts";
import { captureTrace } from "@perseus/tracing";
import { v7 as uuidv7 } from "uuid";
import { z } from "zod";

/** What a publisher passes as payload of event `T` (the schema's input type). */
export type EventPayloadInput<T extends EventType> = z.input<(typeof eventCatalog)[T]["payload"]>;

/**
 * Builds a validated event envelope: a fresh v7 id (time-ordered, the consumers'
 * idempotency key), the catalog's version and the current time. Throws a ZodError when
 * the payload does not match the catalog, so a bad event never reaches the outbox.
 * `trace` defaults to the active trace context (none when tracing is off), so consumers
 * continue the trace of the request or job that caused the event.
 */
export function createEvent<T extends EventType>(
  type: T,
  tenantId: string,
  payload: EventPayloadInput<T>,
  trace?: TraceContext,
): DomainEvent<T> {
  if (!isEventType(type)) throw new TypeError(`unknown event type "${String(type)}"`);
  const entry = eventCatalog[type];
  const context = trace ?? captureTrace();
  const envelope = EventEnvelope.parse({
    id: uuidv7(),
    type,
    version: entry.version,
    tenantId,
    occurredAt: new Date().toISOString(),
    payload: entry.payload.parse(payload),
    ...(context ? { trace: context } : {}),
  });
  return envelope as DomainEvent<T>;
}

/** The stream topic an event travels on. */
export function topicOf(type: EventType) {
  return eventCatalog[type].topic;
}

export type ParsedEntry =
  | { kind: "event"; event: DomainEvent }
  | { kind: "unknown"; envelope: EventEnvelope }
  | { kind: "invalid"; error: string };

/**
 * Parses a stream entry's JSON. Unknown types are reported apart from invalid ones: an
 * older consumer must skip events added by a newer publisher, not dead-letter them.
 */
export function parseEventJson(raw: string | undefined): ParsedEntry {
  if (raw === undefined) return { kind: "invalid", error: "entry has no 'e' field" };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    return { kind: "invalid", error: `invalid JSON: ${(error as Error).message}` };
  }
  const envelope = EventEnvelope.safeParse(json);
  if (!envelope.success)
    return { kind: "invalid", error: `invalid envelope: ${z.prettifyError(envelope.error)}` };
  const { type } = envelope.data;
  if (!isEventType(type)) return { kind: "unknown", envelope: envelope.data };
  const payload = eventCatalog[type].payload.safeParse(envelope.data.payload);
  if (!payload.success) {
    return { kind: "invalid", error: `invalid ${type} payload: ${z.prettifyError(payload.error)}` };
  }
  return { kind: "event", event: { ...envelope.data, type, payload: payload.data } as DomainEvent };
}
