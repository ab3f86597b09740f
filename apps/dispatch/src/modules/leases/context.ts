import type { HistoryMessage, OfferedTask } from "@perseus/contracts";
import type { DbOrTx } from "@perseus/db";
import { sql } from "drizzle-orm";
import type { TaskRow } from "../tasks/task-events.js";

type MessageRecord = {
  id: string;
  seq: string | number;
  author_type: string;
  author_name: string | null;
  body: string;
  created_at: Date | string;
};

const toHistory = (row: MessageRecord): HistoryMessage => ({
  id: row.id,
  seq: Number(row.seq),
  authorType: (["user", "robot", "system"].includes(row.author_type)
    ? row.author_type
    : "system") as HistoryMessage["authorType"],
  authorName: row.author_name ?? "system",
  body: row.body,
  createdAt: new Date(row.created_at).toISOString(),
});

// Author names come from the global users table or the tenant's robots (RLS scopes those).
const selectMessages = sql`
  select m.id, m.seq, m.author_type, m.body, m.created_at,
    coalesce(u.name, r.name, 'system') as author_name
  from messages m
  left join users u on m.author_type = 'user' and u.id = m.author_id
  left join robots r on m.author_type = 'robot' and r.id = m.author_id`;

/**
 * What a robot is told about a task: the prompt, the invoking message and a bounded slice
 * of the chatgroup's history before it (oldest first). Deleted messages are left out.
 */
export async function loadOfferedTask(tx: DbOrTx, task: TaskRow, historyLimit: number): Promise<OfferedTask> {
  let message: HistoryMessage | null = null;
  let history: HistoryMessage[] = [];
  if (task.chatgroupId) {
    if (task.messageId) {
      const found = await tx.execute<MessageRecord>(
        sql`${selectMessages} where m.id = ${task.messageId}::uuid and m.deleted_at is null`,
      );
      message = found.rows[0] ? toHistory(found.rows[0]) : null;
    }
    if (historyLimit > 0) {
      const before = message ? sql`and m.seq < ${message.seq}` : sql``;
      const rows = await tx.execute<MessageRecord>(
        sql`${selectMessages} where m.chatgroup_id = ${task.chatgroupId}::uuid and m.deleted_at is null ${before}
            order by m.seq desc limit ${historyLimit}`,
      );
      history = rows.rows.map(toHistory).reverse();
    }
  }
  return {
    id: task.id,
    prompt: task.prompt,
    // An offer starts the next attempt; a resumed lease continues the current one.
    attempt: task.status === "running" ? Math.max(task.attempt, 1) : task.attempt + 1,
    priority: task.priority,
    chatgroupId: task.chatgroupId,
    message,
    history,
    createdAt: task.createdAt.toISOString(),
  };
}
