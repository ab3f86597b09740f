import { type DbOrTx, schema } from "@perseus/db";
import { and, asc, desc, eq, gte, inArray, lt, lte, type SQL, sql } from "drizzle-orm";
import { messageColumns, type StoredMessage } from "../messages/messages.repo.js";

const { messages, chatgroupCounters, chatgroups, readMarkers } = schema;

export type Window = {
  chatgroupId: string;
  threadRootId?: string | undefined;
  /** Messages with seq < pivot are "older", seq >= pivot "newer". */
  pivot: number;
  older: number;
  newer: number;
};

/**
 * Up to `older` messages before the pivot and `newer` from it on, oldest first; one extra
 * row each way tells whether more exist (asking for 0 still answers that question).
 */
export async function readWindow(
  tx: DbOrTx,
  window: Window,
): Promise<{ rows: StoredMessage[]; hasMoreBefore: boolean; hasMoreAfter: boolean }> {
  const base: SQL[] = [eq(messages.chatgroupId, window.chatgroupId)];
  if (window.threadRootId) base.push(eq(messages.threadRootId, window.threadRootId));
  const [olderRows, newerRows] = [
    await tx
      .select(messageColumns)
      .from(messages)
      .where(and(...base, lt(messages.seq, window.pivot)))
      .orderBy(desc(messages.seq))
      .limit(window.older + 1),
    await tx
      .select(messageColumns)
      .from(messages)
      .where(and(...base, gte(messages.seq, window.pivot)))
      .orderBy(asc(messages.seq))
      .limit(window.newer + 1),
  ];
  return {
    rows: [...olderRows.slice(0, window.older).reverse(), ...newerRows.slice(0, window.newer)],
    hasMoreBefore: olderRows.length > window.older,
    hasMoreAfter: newerRows.length > window.newer,
  };
}

/** Messages with seq in (afterSeq, uptoSeq], in order: what a realtime resume or gap fill replays. */
export async function readRange(
  tx: DbOrTx,
  chatgroupId: string,
  afterSeq: number,
  uptoSeq: number,
): Promise<StoredMessage[]> {
  if (uptoSeq <= afterSeq) return [];
  return tx
    .select(messageColumns)
    .from(messages)
    .where(
      and(
        eq(messages.chatgroupId, chatgroupId),
        sql`${messages.seq} > ${afterSeq}`,
        lte(messages.seq, uptoSeq),
      ),
    )
    .orderBy(asc(messages.seq));
}

export async function findSeq(tx: DbOrTx, chatgroupId: string, messageId: string): Promise<number | null> {
  const [row] = await tx
    .select({ seq: messages.seq })
    .from(messages)
    .where(and(eq(messages.id, messageId), eq(messages.chatgroupId, chatgroupId)));
  return row?.seq ?? null;
}

/** Newest first, over the given chatgroups; `beforeId` continues a previous page (ids are time-ordered v7). */
export async function searchMessages(
  tx: DbOrTx,
  options: { chatgroupIds: string[]; query: string; limit: number; beforeId?: string | undefined },
): Promise<StoredMessage[]> {
  if (options.chatgroupIds.length === 0) return [];
  const conditions: SQL[] = [
    inArray(messages.chatgroupId, options.chatgroupIds),
    sql`${messages.deletedAt} is null`,
    sql`${messages.search} @@ websearch_to_tsquery('simple', ${options.query})`,
  ];
  if (options.beforeId) conditions.push(lt(messages.id, options.beforeId));
  return tx
    .select(messageColumns)
    .from(messages)
    .where(and(...conditions))
    .orderBy(desc(messages.id))
    .limit(options.limit);
}

// Unread counts stop at this many: a badge shows "999+", and counting further costs a scan.
export const UNREAD_CAP = 999;

const unreadSql = (chatgroupId: SQL | string, lastRead: SQL | number, userId: string) => sql<number>`(
  select count(*)::int from (
    select 1 from ${messages} m
    where m.chatgroup_id = ${chatgroupId} and m.seq > ${lastRead}
      and m.deleted_at is null and m.author_id is distinct from ${userId}::uuid
    limit ${UNREAD_CAP}
  ) unread)`;

export type ActivityRow = {
  chatgroupId: string;
  teamId: string;
  name: string;
  isArchived: boolean;
  lastSeq: number;
  lastReadSeq: number;
  unreadCount: number;
};

/** Each chatgroup with its last seq, the user's read marker and the unread count after it. */
export async function listActivity(
  tx: DbOrTx,
  userId: string,
  chatgroupIds: string[],
): Promise<ActivityRow[]> {
  if (chatgroupIds.length === 0) return [];
  const lastRead = sql`coalesce(${readMarkers.lastReadSeq}, 0)`;
  const rows = await tx
    .select({
      chatgroupId: chatgroups.id,
      teamId: chatgroups.teamId,
      name: chatgroups.name,
      archivedAt: chatgroups.archivedAt,
      lastSeq: sql<number>`coalesce(${chatgroupCounters.lastSeq}, 0)`.mapWith(Number),
      lastReadSeq: sql<number>`${lastRead}`.mapWith(Number),
      unreadCount: unreadSql(sql`${chatgroups.id}`, lastRead, userId).mapWith(Number),
    })
    .from(chatgroups)
    .leftJoin(
      chatgroupCounters,
      and(
        eq(chatgroupCounters.tenantId, chatgroups.tenantId),
        eq(chatgroupCounters.chatgroupId, chatgroups.id),
      ),
    )
    .leftJoin(
      readMarkers,
      and(
        eq(readMarkers.tenantId, chatgroups.tenantId),
        eq(readMarkers.chatgroupId, chatgroups.id),
        eq(readMarkers.userId, userId),
      ),
    )
    .where(inArray(chatgroups.id, chatgroupIds))
    .orderBy(asc(chatgroups.name), asc(chatgroups.id));
  return rows.map(({ archivedAt, ...row }) => ({ ...row, isArchived: archivedAt !== null }));
}

/** Moves the marker forward only, never past the chatgroup's last seq; returns the stored position. */
export async function advanceReadMarker(
  tx: DbOrTx,
  key: { tenantId: string; chatgroupId: string; userId: string },
  seq: number,
): Promise<number> {
  const capped = sql`least(${seq}::bigint, coalesce((select ${chatgroupCounters.lastSeq} from ${chatgroupCounters} where ${chatgroupCounters.chatgroupId} = ${key.chatgroupId}), 0))`;
  const [row] = await tx
    .insert(readMarkers)
    .values({ ...key, lastReadSeq: capped })
    .onConflictDoUpdate({
      target: [readMarkers.tenantId, readMarkers.chatgroupId, readMarkers.userId],
      set: {
        lastReadSeq: sql`greatest(${readMarkers.lastReadSeq}, excluded.last_read_seq)`,
        updatedAt: sql`now()`,
      },
    })
    .returning({ lastReadSeq: readMarkers.lastReadSeq });
  return row?.lastReadSeq ?? 0;
}

export async function countUnread(tx: DbOrTx, chatgroupId: string, userId: string, lastRead: number) {
  const result = await tx.execute<{ n: number }>(
    sql`select ${unreadSql(chatgroupId, lastRead, userId)} as n`,
  );
  return Number(result.rows[0]?.n ?? 0);
}
