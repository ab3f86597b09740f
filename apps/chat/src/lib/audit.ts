import { schema, type Tx } from "@perseus/db";
import type { ServiceContext } from "./context.js";

/** Appends an audit row in the caller's transaction (the chain trigger links it per tenant). */
export async function writeAudit(
  tx: Tx,
  ctx: ServiceContext,
  action: string,
  target: { type: string; id: string },
  data: Record<string, unknown> = {},
): Promise<void> {
  const { actor } = ctx;
  const actorId = actor.type === "user" ? actor.userId : actor.type === "robot" ? actor.robotId : actor.keyId;
  await tx.insert(schema.auditEvents).values({
    tenantId: ctx.tenantId,
    actorType: actor.type,
    actorId,
    action,
    targetType: target.type,
    targetId: target.id,
    ip: ctx.ip ?? null,
    requestId: ctx.requestId ?? null,
    data,
  });
}
