import { sql } from "drizzle-orm";
import {
  bigint,
  customType,
  foreignKey,
  index,
  jsonb,
  pgTable,
  primaryKey,
  text,
  unique,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { chatgroups } from "./auth.js";
import { createdAt, tenantId, ts } from "./columns.js";

const tsvector = customType<{ data: string }>({ dataType: () => "tsvector" });

/** The last sequence number handed out per chatgroup; its row lock orders concurrent posts. */
export const chatgroupCounters = pgTable(
  "chatgroup_counters",
  {
    tenantId: tenantId(),
    chatgroupId: uuid().notNull(),
    lastSeq: bigint({ mode: "number" }).notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.chatgroupId] }),
    foreignKey({
      columns: [t.tenantId, t.chatgroupId],
      foreignColumns: [chatgroups.tenantId, chatgroups.id],
    }),
  ],
);

export type StoredMentions = { users: string[]; robots: { robotId: string; handle: string }[] };

export const messages = pgTable(
  "messages",
  {
    tenantId: tenantId(),
    id: uuid().notNull(),
    chatgroupId: uuid().notNull(),
    seq: bigint({ mode: "number" }).notNull(),
    authorType: text().notNull(),
    authorId: uuid(),
    body: text().notNull(),
    threadRootId: uuid(),
    mentions: jsonb().$type<StoredMentions>().notNull().default(sql`'{"users":[],"robots":[]}'::jsonb`),
    attachments: jsonb().$type<unknown[]>().notNull().default(sql`'[]'::jsonb`),
    taskId: uuid(),
    /** Client-chosen key that makes a retried post return the first message. */
    clientKey: text(),
    editedAt: ts(),
    deletedAt: ts(),
    createdAt: createdAt(),
    search: tsvector().generatedAlwaysAs(sql`to_tsvector('simple', body)`),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    unique().on(t.tenantId, t.chatgroupId, t.seq),
    unique().on(t.tenantId, t.chatgroupId, t.authorId, t.clientKey),
    foreignKey({
      columns: [t.tenantId, t.chatgroupId],
      foreignColumns: [chatgroups.tenantId, chatgroups.id],
    }),
    index().using("gin", t.search),
    // Thread views read the replies of one root in seq order.
    index("messages_thread_idx").on(t.tenantId, t.threadRootId, t.seq).where(sql`thread_root_id is not null`),
    // A task's result becomes at most one reply, however often task.succeeded is delivered.
    // Other messages linked to the task (its failure or cancellation notices, keyed
    // `task:<id>:<outcome>`) are deduplicated by the clientKey key above.
    uniqueIndex("messages_task_reply_key")
      .on(t.tenantId, t.taskId)
      .where(sql`task_id is not null and client_key = 'task:' || task_id::text`),
  ],
);

export const messageEdits = pgTable(
  "message_edits",
  {
    tenantId: tenantId(),
    messageId: uuid().notNull(),
    version: bigint({ mode: "number" }).notNull(),
    body: text().notNull(),
    editedAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.messageId, t.version] }),
    foreignKey({ columns: [t.tenantId, t.messageId], foreignColumns: [messages.tenantId, messages.id] }),
  ],
);

export const reactions = pgTable(
  "reactions",
  {
    tenantId: tenantId(),
    messageId: uuid().notNull(),
    userId: uuid().notNull(),
    emoji: text().notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.messageId, t.userId, t.emoji] }),
    foreignKey({ columns: [t.tenantId, t.messageId], foreignColumns: [messages.tenantId, messages.id] }),
  ],
);

export const readMarkers = pgTable(
  "read_markers",
  {
    tenantId: tenantId(),
    chatgroupId: uuid().notNull(),
    userId: uuid().notNull(),
    lastReadSeq: bigint({ mode: "number" }).notNull().default(0),
    updatedAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.chatgroupId, t.userId] })],
);
