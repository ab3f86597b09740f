import { schema, type Tx } from "@perseus/db";

/** Who did something, for the audit trail. */
export type AuditActor =
  | { type: "user"; id: string; ip?: string | undefined; requestId?: string | undefined }
  | { type: "robot"; id: string }
  | { type: "system" };

/** Appends one event to the tenant's (hash-chained, append-only) audit trail, in the caller's transaction. */
export async function appendAudit(
  tx: Tx,
  event: {
    tenantId: string;
    actor: AuditActor;
    action: string;
    targetType: string;
    targetId: string;
    data: Record<string, unknown>;
  },
) {
  const { actor } = event;
  await tx.insert(schema.auditEvents).values({
    tenantId: event.tenantId,
    actorType: actor.type,
    actorId: actor.type === "system" ? null : actor.id,
    action: event.action,
    targetType: event.targetType,
    targetId: event.targetId,
    ip: actor.type === "user" ? (actor.ip ?? null) : null,
    requestId: actor.type === "user" ? (actor.requestId ?? null) : null,
    data: event.data,
  });
}
