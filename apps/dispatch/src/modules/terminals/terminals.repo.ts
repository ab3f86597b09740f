import type { TerminalSession, TerminalStatus } from "@perseus/contracts";
import { schema, type Tx } from "@perseus/db";
import { and, eq, ne, sql } from "drizzle-orm";
import { type AuditActor, appendAudit } from "../../lib/audit.js";

const { terminalSessions } = schema;

export type TerminalRow = typeof terminalSessions.$inferSelect;

/** Who did something to a terminal session, for the audit trail. */
export type TerminalActor = AuditActor;

export function toTerminalSession(row: TerminalRow): TerminalSession {
  return {
    id: row.id,
    robotId: row.robotId,
    openedBy: row.openedBy,
    chatgroupId: row.chatgroupId,
    taskId: row.taskId,
    status: row.status as TerminalStatus,
    cols: row.cols,
    rows: row.rows,
    openedAt: row.openedAt.toISOString(),
    closedAt: row.closedAt ? row.closedAt.toISOString() : null,
    exitCode: row.exitCode,
    closeReason: row.closeReason,
    recording: row.recording,
  };
}

/** Appends one step of a session's life to the (hash-chained, append-only) audit trail. */
export async function auditTerminal(
  tx: Tx,
  row: TerminalRow,
  actor: TerminalActor,
  action: "terminal.open" | "terminal.close",
  data: Record<string, unknown> = {},
) {
  await appendAudit(tx, {
    tenantId: row.tenantId,
    actor,
    action,
    targetType: "terminal_session",
    targetId: row.id,
    data: {
      robotId: row.robotId,
      openedBy: row.openedBy,
      chatgroupId: row.chatgroupId,
      taskId: row.taskId,
      recording: row.recording,
      ...data,
    },
  });
}

export async function findTerminal(tx: Tx, id: string): Promise<TerminalRow | null> {
  const [row] = await tx.select().from(terminalSessions).where(eq(terminalSessions.id, id));
  return row ?? null;
}

/** opening → open, once the robot's pty runs. */
export async function markOpen(tx: Tx, id: string): Promise<TerminalRow | null> {
  const [row] = await tx
    .update(terminalSessions)
    .set({ status: "open" })
    .where(and(eq(terminalSessions.id, id), eq(terminalSessions.status, "opening")))
    .returning();
  return row ?? null;
}

/**
 * Ends a session and audits it, once: null when it had already ended (the first close wins,
 * so a revocation and the disconnect it causes leave one reason).
 */
export async function closeTerminalRow(
  tx: Tx,
  id: string,
  end: { reason: string; exitCode?: number | null; closedBy?: string | null },
  actor: TerminalActor,
): Promise<TerminalRow | null> {
  const [row] = await tx
    .update(terminalSessions)
    .set({
      status: "closed",
      closedAt: sql`now()`,
      closeReason: end.reason,
      exitCode: end.exitCode ?? null,
      closedBy: end.closedBy ?? null,
    })
    .where(and(eq(terminalSessions.id, id), ne(terminalSessions.status, "closed")))
    .returning();
  if (!row) return null;
  const durationMs = row.closedAt ? row.closedAt.getTime() - row.openedAt.getTime() : null;
  await auditTerminal(tx, row, actor, "terminal.close", {
    reason: end.reason,
    exitCode: row.exitCode,
    durationMs,
  });
  return row;
}
