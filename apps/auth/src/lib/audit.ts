import { schema, type Tx } from "@perseus/db";
import { actorRef, type Ctx, type Origin } from "./context.js";

export type AuditEntry = {
  action: string;
  targetType?: string;
  targetId?: string;
  data?: Record<string, unknown>;
};

/** Appends an audit row inside the caller's tenant transaction (the chain trigger hashes it). */
export async function writeAudit(tx: Tx, ctx: Ctx, entry: AuditEntry): Promise<void> {
  await tx.insert(schema.auditEvents).values({
    tenantId: ctx.tenantId,
    ...actorRef(ctx.actor),
    action: entry.action,
    targetType: entry.targetType ?? null,
    targetId: entry.targetId ?? null,
    ip: ctx.ip,
    requestId: ctx.requestId,
    data: entry.data ?? {},
  });
}

/** Audit row for calls made before there is an actor (sign-up, sign-in, token exchange). */
export async function writeOriginAudit(
  tx: Tx,
  origin: Origin,
  entry: AuditEntry & { tenantId: string; actorType: string; actorId: string | null },
): Promise<void> {
  await tx.insert(schema.auditEvents).values({
    tenantId: entry.tenantId,
    actorType: entry.actorType,
    actorId: entry.actorId,
    action: entry.action,
    targetType: entry.targetType ?? null,
    targetId: entry.targetId ?? null,
    ip: origin.ip,
    requestId: origin.requestId,
    data: entry.data ?? {},
  });
}
