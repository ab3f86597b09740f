import { decodeCursor, encodeCursor, type Task, type TaskDetail, type TaskStatus } from "@perseus/contracts";
import { type DbOrTx, schema } from "@perseus/db";
import { and, asc, desc, eq, inArray, isNull, or, type SQL, sql } from "drizzle-orm";
import { z } from "zod";
import type { TaskRow } from "./task-events.js";

const { tasks, taskAttempts, taskProgress } = schema;

const iso = (value: Date | null) => (value ? value.toISOString() : null);

export function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    robotId: row.robotId,
    chatgroupId: row.chatgroupId,
    messageId: row.messageId,
    requestedBy: row.requestedBy,
    prompt: row.prompt,
    status: row.status as TaskStatus,
    priority: row.priority,
    attempt: row.attempt,
    maxAttempts: row.maxAttempts,
    leaseEpoch: row.leaseEpoch,
    leaseExpiresAt: row.status === "running" ? iso(row.leaseExpiresAt) : null,
    notBefore: iso(row.notBefore),
    cancelRequestedAt: iso(row.cancelRequestedAt),
    result: row.result,
    error: row.error,
    usage: (row.usage ?? {}) as Record<string, unknown>,
    progressSeq: row.progressSeq,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    finishedAt: iso(row.finishedAt),
    discardedAt: iso(row.discardedAt),
  };
}

/** The strong ETag of a task: its version, bumped on every state change. */
export const etagOf = (row: Pick<TaskRow, "version">) => `"${row.version}"`;

export async function findTask(
  tx: DbOrTx,
  id: string,
  where?: SQL,
  forUpdate = false,
): Promise<TaskRow | null> {
  const query = tx
    .select()
    .from(tasks)
    .where(and(eq(tasks.id, id), where));
  const [row] = forUpdate ? await query.for("update") : await query;
  return row ?? null;
}

/** Attempts (oldest first) and the latest `progressLimit` progress entries (oldest first). */
export async function loadTaskDetail(tx: DbOrTx, row: TaskRow, progressLimit = 500): Promise<TaskDetail> {
  const attempts = await tx
    .select()
    .from(taskAttempts)
    .where(eq(taskAttempts.taskId, row.id))
    .orderBy(asc(taskAttempts.epoch));
  const progress = await tx
    .select()
    .from(taskProgress)
    .where(eq(taskProgress.taskId, row.id))
    .orderBy(desc(taskProgress.createdAt), desc(taskProgress.epoch), desc(taskProgress.seq))
    .limit(progressLimit);
  return {
    ...toTask(row),
    attempts: attempts.map((a) => ({
      attempt: a.attempt,
      epoch: a.epoch,
      startedAt: a.startedAt.toISOString(),
      endedAt: iso(a.endedAt),
      outcome: a.outcome,
      error: a.error,
    })),
    progress: progress.reverse().map((p) => ({
      epoch: p.epoch,
      seq: p.seq,
      kind: p.kind as TaskDetail["progress"][number]["kind"],
      data: p.data,
      createdAt: p.createdAt.toISOString(),
    })),
  };
}

// Ids are UUIDv7 (time-ordered), so the id alone is an exact, stable sort key for pages.
const ListCursor = z.object({ i: z.uuid() });

export type ListFilter = {
  status?: TaskStatus | undefined;
  robotId?: string | undefined;
  chatgroupId?: string | undefined;
  deadLetters?: boolean;
};

/** A page of tasks, newest first; `visible` narrows to what the caller may see. */
export async function listTasks(
  tx: DbOrTx,
  filter: ListFilter,
  visible: SQL | undefined,
  page: { cursor?: string | undefined; limit: number },
): Promise<{ rows: TaskRow[]; nextCursor: string | null } | null> {
  const position = page.cursor ? decodeCursor(page.cursor, ListCursor) : undefined;
  if (position === null) return null;
  const conditions: (SQL | undefined)[] = [
    visible,
    filter.status ? eq(tasks.status, filter.status) : undefined,
    filter.robotId ? eq(tasks.robotId, filter.robotId) : undefined,
    filter.chatgroupId ? eq(tasks.chatgroupId, filter.chatgroupId) : undefined,
    filter.deadLetters ? and(eq(tasks.status, "dead"), isNull(tasks.discardedAt)) : undefined,
    position ? sql`${tasks.id} < ${position.i}::uuid` : undefined,
  ];
  const rows = await tx
    .select()
    .from(tasks)
    .where(and(...conditions))
    .orderBy(desc(tasks.id))
    .limit(page.limit + 1);
  const hasMore = rows.length > page.limit;
  const items = rows.slice(0, page.limit);
  const last = items.at(-1);
  return {
    rows: items,
    nextCursor: hasMore && last ? encodeCursor({ i: last.id }) : null,
  };
}

/** Tasks a plain user may see: the ones they asked for, and those of chatgroups they can read. */
export function visibleToUser(userId: string, readableChatgroups: readonly string[]): SQL {
  const mine = eq(tasks.requestedBy, userId);
  return readableChatgroups.length
    ? (or(mine, inArray(tasks.chatgroupId, [...readableChatgroups])) as SQL)
    : mine;
}
