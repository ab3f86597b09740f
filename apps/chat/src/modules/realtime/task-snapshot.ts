import type { RealtimeTaskStatusFrame } from "@perseus/contracts";
import { type DbOrTx, schema } from "@perseus/db";
import { and, desc, eq, inArray } from "drizzle-orm";

/** At most this many unfinished tasks are announced to a new subscription. */
const SNAPSHOT_LIMIT = 100;

const UNFINISHED = ["queued", "offered", "running"] as const;

/**
 * The current status of a chatgroup's unfinished tasks, newest first. Task status frames
 * are live-only, unlike messages (which a subscription replays by seq): without this, a
 * socket that subscribes after a task's `queued` event — the console posting a mention
 * while its socket (re)connects — would never learn of the task until its next change.
 */
export async function listUnfinishedTasks(
  tx: DbOrTx,
  chatgroupId: string,
): Promise<Omit<RealtimeTaskStatusFrame, "type">[]> {
  const { tasks } = schema;
  const rows = await tx
    .select({
      taskId: tasks.id,
      robotId: tasks.robotId,
      messageId: tasks.messageId,
      status: tasks.status,
      attempt: tasks.attempt,
      error: tasks.error,
    })
    .from(tasks)
    .where(and(eq(tasks.chatgroupId, chatgroupId), inArray(tasks.status, [...UNFINISHED])))
    .orderBy(desc(tasks.createdAt))
    .limit(SNAPSHOT_LIMIT);
  return rows.map((row) => ({
    ...row,
    chatgroupId,
    status: row.status as RealtimeTaskStatusFrame["status"],
  }));
}
