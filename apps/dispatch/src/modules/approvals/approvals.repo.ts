import { createHash } from "node:crypto";
import { createEvent, enqueueEvents } from "@perseus/bus";
import {
  type Approval,
  type ApprovalDecidedFrame,
  type ApprovalDecision,
  type ApprovalStatus,
  approvalBindingMaterial,
} from "@perseus/contracts";
import { schema, type Tx } from "@perseus/db";
import { and, eq, lte, type SQL, sql } from "drizzle-orm";
import { type AuditActor, appendAudit } from "../../lib/audit.js";

const { approvals } = schema;

export type ApprovalRow = typeof approvals.$inferSelect;

export type { AuditActor };

/** The binding hash the robot must have sent: sha256 of the canonical command/cwd/env/task text. */
export const bindingHashOf = (subject: { taskId: string; command: string; cwd: string; envHash: string }) =>
  createHash("sha256").update(approvalBindingMaterial(subject), "utf8").digest("hex");

const iso = (value: Date | null) => (value ? value.toISOString() : null);

export function toApproval(row: ApprovalRow): Approval {
  return {
    id: row.id,
    taskId: row.taskId,
    robotId: row.robotId,
    chatgroupId: row.chatgroupId,
    epoch: row.epoch,
    command: row.command,
    cwd: row.cwd,
    envHash: row.envHash,
    bindingHash: row.bindingHash,
    reason: row.reason,
    status: row.status as ApprovalStatus,
    requestedAt: row.requestedAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    decidedBy: row.decidedBy,
    decidedAt: iso(row.decidedAt),
  };
}

/** The frame that tells the robot; only for a decided row. */
export function decidedFrame(row: ApprovalRow): ApprovalDecidedFrame {
  return {
    type: "approval.decided",
    requestId: row.id,
    taskId: row.taskId,
    decision: row.status as ApprovalDecision,
    bindingHash: row.bindingHash,
    decidedBy: row.decidedBy,
  };
}

/** Appends one step of an approval's life to the (hash-chained, append-only) audit trail. */
export async function auditApproval(
  tx: Tx,
  row: Pick<ApprovalRow, "tenantId" | "id" | "taskId" | "robotId" | "bindingHash">,
  actor: AuditActor,
  action: string,
  data: Record<string, unknown> = {},
) {
  await appendAudit(tx, {
    tenantId: row.tenantId,
    actor,
    action,
    targetType: "approval",
    targetId: row.id,
    data: { taskId: row.taskId, robotId: row.robotId, bindingHash: row.bindingHash, ...data },
  });
}

export async function announceRequested(tx: Tx, row: ApprovalRow) {
  await enqueueEvents(tx, [
    createEvent("approval.requested", row.tenantId, {
      approvalId: row.id,
      taskId: row.taskId,
      robotId: row.robotId,
      chatgroupId: row.chatgroupId,
      command: row.command,
      cwd: row.cwd,
      reason: row.reason,
      expiresAt: row.expiresAt.toISOString(),
    }),
  ]);
}

export async function announceDecided(tx: Tx, row: ApprovalRow) {
  await enqueueEvents(tx, [
    createEvent("approval.decided", row.tenantId, {
      approvalId: row.id,
      taskId: row.taskId,
      robotId: row.robotId,
      chatgroupId: row.chatgroupId,
      decision: row.status as ApprovalDecision,
      decidedBy: row.decidedBy,
    }),
  ]);
}

/**
 * Marks the tenant's pending requests past their expiry (by the database clock) expired,
 * with their audit rows and events, in the caller's transaction. Returns the changed rows.
 */
export async function expireDue(tx: Tx, where?: SQL): Promise<ApprovalRow[]> {
  const rows = await tx
    .update(approvals)
    .set({ status: "expired", decidedAt: sql`now()` })
    .where(and(eq(approvals.status, "pending"), lte(approvals.expiresAt, sql`now()`), where))
    .returning();
  for (const row of rows) {
    await auditApproval(tx, row, { type: "system" }, "approval.expire");
    await announceDecided(tx, row);
  }
  return rows;
}
