import type { Message, MessageAttachment, MessageReaction } from "@perseus/contracts";
import { type DbOrTx, schema } from "@perseus/db";
import { and, asc, eq, inArray, sql } from "drizzle-orm";

const { messages, chatgroupCounters, messageEdits, reactions } = schema;

export type MessageRow = typeof messages.$inferSelect;
export type NewMessageRow = typeof messages.$inferInsert;

/** The columns a Message is built from (everything but the generated search vector). */
export const messageColumns = {
  tenantId: messages.tenantId,
  id: messages.id,
  chatgroupId: messages.chatgroupId,
  seq: messages.seq,
  authorType: messages.authorType,
  authorId: messages.authorId,
  body: messages.body,
  threadRootId: messages.threadRootId,
  mentions: messages.mentions,
  attachments: messages.attachments,
  taskId: messages.taskId,
  clientKey: messages.clientKey,
  editedAt: messages.editedAt,
  deletedAt: messages.deletedAt,
  createdAt: messages.createdAt,
};
export type StoredMessage = Omit<MessageRow, "search">;

export function toMessage(row: StoredMessage, messageReactions: MessageReaction[] = []): Message {
  return {
    id: row.id,
    chatgroupId: row.chatgroupId,
    seq: row.seq,
    authorType: row.authorType as Message["authorType"],
    authorId: row.authorId,
    body: row.body,
    threadRootId: row.threadRootId,
    mentions: row.mentions,
    attachments: row.attachments as MessageAttachment[],
    taskId: row.taskId,
    reactions: messageReactions,
    editedAt: row.editedAt?.toISOString() ?? null,
    deletedAt: row.deletedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}

/**
 * Takes the chatgroup's next seq. The upsert's row lock is held until the transaction
 * ends, so concurrent posts queue here and commit in seq order; a rollback returns the
 * number, so seqs have no gaps.
 */
export async function takeNextSeq(tx: DbOrTx, tenantId: string, chatgroupId: string): Promise<number> {
  const [row] = await tx
    .insert(chatgroupCounters)
    .values({ tenantId, chatgroupId, lastSeq: 1 })
    .onConflictDoUpdate({
      target: [chatgroupCounters.tenantId, chatgroupCounters.chatgroupId],
      set: { lastSeq: sql`${chatgroupCounters.lastSeq} + 1` },
    })
    .returning({ lastSeq: chatgroupCounters.lastSeq });
  if (!row) throw new Error("chatgroup counter upsert returned no row");
  return row.lastSeq;
}

/**
 * Takes `count` consecutive seqs at once (for a batch of messages) and returns the last;
 * the range is `last - count + 1 … last`. Same locking as takeNextSeq.
 */
export async function takeSeqRange(
  tx: DbOrTx,
  tenantId: string,
  chatgroupId: string,
  count: number,
): Promise<number> {
  const [row] = await tx
    .insert(chatgroupCounters)
    .values({ tenantId, chatgroupId, lastSeq: count })
    .onConflictDoUpdate({
      target: [chatgroupCounters.tenantId, chatgroupCounters.chatgroupId],
      set: { lastSeq: sql`${chatgroupCounters.lastSeq} + ${count}` },
    })
    .returning({ lastSeq: chatgroupCounters.lastSeq });
  if (!row) throw new Error("chatgroup counter upsert returned no row");
  return row.lastSeq;
}

/** The chatgroup's latest seq (0 before the first message). */
export async function getLastSeq(tx: DbOrTx, chatgroupId: string): Promise<number> {
  const [row] = await tx
    .select({ lastSeq: chatgroupCounters.lastSeq })
    .from(chatgroupCounters)
    .where(eq(chatgroupCounters.chatgroupId, chatgroupId));
  return row?.lastSeq ?? 0;
}

export async function insertMessage(tx: DbOrTx, row: NewMessageRow): Promise<StoredMessage> {
  const [stored] = await tx.insert(messages).values(row).returning(messageColumns);
  if (!stored) throw new Error("message insert returned no row");
  return stored;
}

/** Inserts several messages with one statement; the stored rows come back in input order. */
export async function insertMessages(tx: DbOrTx, rows: NewMessageRow[]): Promise<StoredMessage[]> {
  if (rows.length === 0) return [];
  const stored = await tx.insert(messages).values(rows).returning(messageColumns);
  const byId = new Map(stored.map((row) => [row.id, row]));
  return rows.map((row) => {
    const match = byId.get(row.id as string);
    if (!match) throw new Error("message insert returned fewer rows than it was given");
    return match;
  });
}

export async function findMessage(tx: DbOrTx, messageId: string): Promise<StoredMessage | null> {
  const [row] = await tx.select(messageColumns).from(messages).where(eq(messages.id, messageId));
  return row ?? null;
}

export async function findByClientKey(
  tx: DbOrTx,
  key: { chatgroupId: string; authorId: string; clientKey: string },
): Promise<StoredMessage | null> {
  const [row] = await tx
    .select(messageColumns)
    .from(messages)
    .where(
      and(
        eq(messages.chatgroupId, key.chatgroupId),
        eq(messages.authorId, key.authorId),
        eq(messages.clientKey, key.clientKey),
      ),
    );
  return row ?? null;
}

/** The reply holding a task's result (not its failure or cancellation notices). */
export async function findTaskReply(tx: DbOrTx, taskId: string): Promise<StoredMessage | null> {
  const [row] = await tx
    .select(messageColumns)
    .from(messages)
    .where(and(eq(messages.taskId, taskId), eq(messages.clientKey, `task:${taskId}`)));
  return row ?? null;
}

/** Reactions of several messages, grouped per message and emoji (first reaction first). */
export async function listReactions(
  tx: DbOrTx,
  messageIds: readonly string[],
): Promise<Map<string, MessageReaction[]>> {
  const byMessage = new Map<string, MessageReaction[]>();
  if (messageIds.length === 0) return byMessage;
  const rows = await tx
    .select({ messageId: reactions.messageId, userId: reactions.userId, emoji: reactions.emoji })
    .from(reactions)
    .where(inArray(reactions.messageId, [...messageIds]))
    .orderBy(asc(reactions.createdAt), asc(reactions.userId));
  for (const row of rows) {
    let list = byMessage.get(row.messageId);
    if (!list) {
      list = [];
      byMessage.set(row.messageId, list);
    }
    let entry = list.find((reaction) => reaction.emoji === row.emoji);
    if (!entry) {
      entry = { emoji: row.emoji, count: 0, userIds: [] };
      list.push(entry);
    }
    entry.count++;
    entry.userIds.push(row.userId);
  }
  return byMessage;
}

export async function withReactions(tx: DbOrTx, rows: StoredMessage[]): Promise<Message[]> {
  const byMessage = await listReactions(
    tx,
    rows.filter((row) => !row.deletedAt).map((row) => row.id),
  );
  return rows.map((row) => toMessage(row, byMessage.get(row.id)));
}

export async function updateBody(
  tx: DbOrTx,
  messageId: string,
  change: { body: string; mentions: MessageRow["mentions"] },
): Promise<StoredMessage> {
  const [row] = await tx
    .update(messages)
    .set({ body: change.body, mentions: change.mentions, editedAt: sql`now()` })
    .where(eq(messages.id, messageId))
    .returning(messageColumns);
  if (!row) throw new Error("message vanished during edit");
  return row;
}

/** Keeps the text being replaced as the next version of the message's history. */
export async function recordEdit(tx: DbOrTx, tenantId: string, messageId: string, previousBody: string) {
  await tx.insert(messageEdits).values({
    tenantId,
    messageId,
    version: sql`(select coalesce(max(${messageEdits.version}), 0) + 1 from ${messageEdits} where ${messageEdits.messageId} = ${messageId})`,
    body: previousBody,
  });
}

export async function listEdits(tx: DbOrTx, messageId: string) {
  return tx
    .select({ version: messageEdits.version, body: messageEdits.body, editedAt: messageEdits.editedAt })
    .from(messageEdits)
    .where(eq(messageEdits.messageId, messageId))
    .orderBy(asc(messageEdits.version));
}

/** Deletion leaves a tombstone in place (its seq stays taken): body, mentions, attachments and reactions go. */
export async function tombstone(tx: DbOrTx, messageId: string): Promise<StoredMessage> {
  await tx.delete(reactions).where(eq(reactions.messageId, messageId));
  const [row] = await tx
    .update(messages)
    .set({
      body: "",
      mentions: { users: [], robots: [] },
      attachments: [],
      deletedAt: sql`now()`,
    })
    .where(eq(messages.id, messageId))
    .returning(messageColumns);
  if (!row) throw new Error("message vanished during delete");
  return row;
}

export async function addReaction(
  tx: DbOrTx,
  key: { tenantId: string; messageId: string; userId: string; emoji: string },
): Promise<boolean> {
  const inserted = await tx
    .insert(reactions)
    .values(key)
    .onConflictDoNothing()
    .returning({ emoji: reactions.emoji });
  return inserted.length > 0;
}

export async function removeReaction(
  tx: DbOrTx,
  key: { messageId: string; userId: string; emoji: string },
): Promise<boolean> {
  const deleted = await tx
    .delete(reactions)
    .where(
      and(
        eq(reactions.messageId, key.messageId),
        eq(reactions.userId, key.userId),
        eq(reactions.emoji, key.emoji),
      ),
    )
    .returning({ emoji: reactions.emoji });
  return deleted.length > 0;
}
