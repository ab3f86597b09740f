import { sql } from "drizzle-orm";
import { bigint, bigserial, index, jsonb, pgTable, primaryKey, text, uuid } from "drizzle-orm/pg-core";
import { createdAt, tenantId } from "./columns.js";

/**
 * Transactional outbox: an event row is written in the same transaction as the state
 * change it announces; the relay publishes it to Redis and deletes it afterwards.
 */
export const outbox = pgTable(
  "outbox",
  {
    id: bigserial({ mode: "number" }).primaryKey(),
    tenantId: tenantId(),
    eventId: uuid().notNull(),
    topic: text().notNull(),
    /** The full event envelope as JSON. */
    envelope: jsonb().notNull(),
    createdAt: createdAt(),
  },
  (t) => [index().on(t.id)],
);

/** Events a consumer has already handled, for idempotent (effectively-once) handling. */
export const processedEvents = pgTable(
  "processed_events",
  {
    tenantId: tenantId(),
    consumer: text().notNull(),
    eventId: uuid().notNull(),
    processedAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.consumer, t.eventId] })],
);

/**
 * Append-only audit trail, hash-chained per tenant by a trigger. The application
 * role may insert and read but never update or delete.
 */
export const auditEvents = pgTable(
  "audit_events",
  {
    tenantId: tenantId(),
    /** Set by the chain trigger. */
    seq: bigint({ mode: "number" }).notNull().default(0),
    actorType: text().notNull(),
    actorId: uuid(),
    action: text().notNull(),
    targetType: text(),
    targetId: text(),
    ip: text(),
    requestId: text(),
    data: jsonb().notNull().default(sql`'{}'::jsonb`),
    occurredAt: createdAt(),
    prevHash: text().notNull().default(""),
    hash: text().notNull().default(""),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.seq] }), index().on(t.tenantId, t.action, t.occurredAt)],
);
