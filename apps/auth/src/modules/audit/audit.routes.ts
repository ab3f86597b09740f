import { type AuditEvent, type AuditQuery, decodeCursor, encodeCursor } from "@perseus/contracts";
import { type Db, schema, sql, withTenant } from "@perseus/db";
import { and, desc, eq, gte, lt, lte } from "drizzle-orm";
import { z } from "zod";
import { contextOf } from "../../lib/context.js";
import type { Handlers } from "../../lib/handlers.js";

const { auditEvents } = schema;
const AuditCursor = z.object({ seq: z.number().int().min(1) });

/** Audit queries (newest first, cursor by chain sequence) and chain verification. */
export function auditHandlers(deps: { db: Db }): Handlers<"listAudit" | "verifyAudit"> {
  const list = async (tenantId: string, query: AuditQuery) => {
    const cursor = query.cursor ? decodeCursor(query.cursor, AuditCursor) : null;
    if (query.cursor && !cursor) return { items: [], nextCursor: null };
    const rows = await withTenant(deps.db, { tenantId }, (tx) =>
      tx
        .select()
        .from(auditEvents)
        .where(
          and(
            cursor ? lt(auditEvents.seq, cursor.seq) : undefined,
            query.action ? eq(auditEvents.action, query.action) : undefined,
            query.actorId ? eq(auditEvents.actorId, query.actorId) : undefined,
            query.from ? gte(auditEvents.occurredAt, new Date(query.from)) : undefined,
            query.to ? lte(auditEvents.occurredAt, new Date(query.to)) : undefined,
          ),
        )
        .orderBy(desc(auditEvents.seq))
        .limit(query.limit + 1),
    );
    const items: AuditEvent[] = rows.slice(0, query.limit).map((row) => ({
      seq: row.seq,
      actorType: row.actorType,
      actorId: row.actorId,
      action: row.action,
      targetType: row.targetType,
      targetId: row.targetId,
      ip: row.ip,
      requestId: row.requestId,
      data: row.data as Record<string, unknown>,
      occurredAt: row.occurredAt.toISOString(),
    }));
    const last = items.at(-1);
    return { items, nextCursor: rows.length > query.limit && last ? encodeCursor({ seq: last.seq }) : null };
  };

  return {
    listAudit: ({ actor, query }) => list(actor.tenantId, query),
    verifyAudit: async ({ actor, request }) => {
      const ctx = contextOf(actor, request);
      const result = await withTenant(deps.db, ctx, (tx) =>
        tx.execute<{ seq: string; problem: string }>(sql`select seq, problem from perseus_audit_verify()`),
      );
      const problems = result.rows.map((row) => ({ seq: Number(row.seq), problem: row.problem }));
      return { ok: problems.length === 0, problems };
    },
  };
}
