import { type DomainEvent, eventCatalog } from "@perseus/contracts";
import { schema, type Tx } from "@perseus/db";

/**
 * Writes events to the outbox inside the caller's transaction (run it inside
 * `withTenant`): they are published if and only if the transaction commits.
 */
export async function enqueueEvents(tx: Tx, events: readonly DomainEvent[]): Promise<void> {
  if (events.length === 0) return;
  await tx.insert(schema.outbox).values(
    events.map((event) => ({
      tenantId: event.tenantId,
      eventId: event.id,
      topic: eventCatalog[event.type].topic,
      envelope: event,
    })),
  );
}

export type ProcessedKey = { tenantId: string; consumer: string; eventId: string };

/**
 * Records that `consumer` handled `eventId`; true the first time, false on a redelivery.
 * Call it in the same `withTenant` transaction as the handler's effects, and apply them
 * only when it returns true: delivery is at-least-once, the effects then happen once.
 */
export async function markProcessed(tx: Tx, key: ProcessedKey): Promise<boolean> {
  const inserted = await tx
    .insert(schema.processedEvents)
    .values({ tenantId: key.tenantId, consumer: key.consumer, eventId: key.eventId })
    .onConflictDoNothing()
    .returning({ eventId: schema.processedEvents.eventId });
  return inserted.length === 1;
}
