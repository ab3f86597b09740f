import { createEvent, enqueueEvents } from "@perseus/bus";
import type { DomainEvent, ProgressKind } from "@perseus/contracts";
import type { schema, Tx } from "@perseus/db";

export type TaskRow = typeof schema.tasks.$inferSelect;

/** `task.status` for a task's current state: the chat service turns it into live status. */
export function statusEvent(row: TaskRow): DomainEvent {
  return createEvent("task.status", row.tenantId, {
    taskId: row.id,
    robotId: row.robotId,
    chatgroupId: row.chatgroupId,
    messageId: row.messageId,
    status: row.status as DomainEvent<"task.status">["payload"]["status"],
    attempt: row.attempt,
    error: row.error,
  });
}

/** `task.succeeded` with the result text and usage: the chat service posts it as the robot's reply. */
export function succeededEvent(row: TaskRow): DomainEvent {
  return createEvent("task.succeeded", row.tenantId, {
    taskId: row.id,
    robotId: row.robotId,
    chatgroupId: row.chatgroupId,
    messageId: row.messageId,
    result: row.result ?? "",
    usage: (row.usage ?? {}) as Record<string, unknown>,
  });
}

export function progressEvent(
  row: Pick<TaskRow, "tenantId" | "id" | "robotId" | "chatgroupId">,
  entry: { seq: number; kind: ProgressKind; data: string },
): DomainEvent {
  return createEvent("task.progress", row.tenantId, {
    taskId: row.id,
    robotId: row.robotId,
    chatgroupId: row.chatgroupId,
    seq: entry.seq,
    kind: entry.kind,
    data: entry.data,
  });
}

/** Writes the state-change events of `rows` to the outbox in the caller's transaction. */
export async function announceStatus(tx: Tx, rows: readonly TaskRow[]): Promise<void> {
  const events = rows.flatMap((row) =>
    row.status === "succeeded" ? [statusEvent(row), succeededEvent(row)] : [statusEvent(row)],
  );
  await enqueueEvents(tx, events);
}

export function auditRow(
  row: Pick<TaskRow, "tenantId" | "id">,
  actor: { userId: string; ip?: string | undefined; requestId?: string | undefined },
  action: string,
  data: Record<string, unknown> = {},
) {
  return {
    tenantId: row.tenantId,
    actorType: "user",
    actorId: actor.userId,
    action,
    targetType: "task",
    targetId: row.id,
    ip: actor.ip ?? null,
    requestId: actor.requestId ?? null,
    data,
  } satisfies typeof schema.auditEvents.$inferInsert;
}
