// Wire schemas of the chat service: REST bodies, queries, responses and realtime frames.
import { z } from "zod";
import { Id, Timestamp } from "./common.js";
import { MentionedRobot, MessageAuthorType, ProgressKind, TaskStatus } from "./events.js";
import { defineRoute } from "./routes.js";

/** Longest message body in characters; the service also enforces a byte limit (32 KB by default). */
export const MAX_MESSAGE_CHARS = 32_768;
export const MAX_MESSAGE_ATTACHMENTS = 20;
/** How many missed messages a realtime `subscribe` replays before answering `reload_required`. */
export const DEFAULT_REPLAY_LIMIT = 500;

// ---- messages ----------------------------------------------------------------

export const MessageAttachmentLayer = z.enum(["tenant", "team", "chatgroup"]);
export type MessageAttachmentLayer = z.infer<typeof MessageAttachmentLayer>;

// Control characters (C0, DEL, C1) never belong in a workspace path.
const CONTROL_CHARS = /\p{Cc}/u;

/** A relative workspace path: '/'-separated, no empty, '.' or '..' segments, no backslashes or control characters. */
export const MessageAttachmentPath = z
  .string()
  .min(1)
  .max(1024)
  .refine(
    (path) =>
      !path.startsWith("/") &&
      !path.includes("\\") &&
      !CONTROL_CHARS.test(path) &&
      path.split("/").every((segment) => segment !== "" && segment !== "." && segment !== ".."),
    "must be a relative workspace path without '.', '..' or empty segments",
  );

/** A reference to a file in the workspace (the bytes live in the workspace service). */
export const MessageAttachment = z.object({
  layer: MessageAttachmentLayer,
  path: MessageAttachmentPath,
});
export type MessageAttachment = z.infer<typeof MessageAttachment>;

export const ReactionEmoji = z
  .string()
  .min(1)
  .max(32)
  .regex(/^[^\s\p{C}]+$/u, "an emoji or short code without spaces or control characters");
export type ReactionEmoji = z.infer<typeof ReactionEmoji>;

export const MessageReaction = z.object({ emoji: z.string(), count: z.number().int(), userIds: z.array(Id) });
export type MessageReaction = z.infer<typeof MessageReaction>;

export const MessageMentions = z.object({ users: z.array(Id), robots: z.array(MentionedRobot) });
export type MessageMentions = z.infer<typeof MessageMentions>;

/** A chat message as every API and realtime frame returns it. A deleted message is a tombstone (empty body, `deletedAt` set). */
export const Message = z.object({
  id: Id,
  chatgroupId: Id,
  /** Position in the chatgroup: 1, 2, 3, … without gaps. */
  seq: z.number().int().min(1),
  authorType: MessageAuthorType,
  authorId: Id.nullable(),
  body: z.string(),
  threadRootId: Id.nullable(),
  mentions: MessageMentions,
  attachments: z.array(MessageAttachment),
  /** Set on a robot's reply: the task whose result this message is. */
  taskId: Id.nullable(),
  reactions: z.array(MessageReaction),
  editedAt: Timestamp.nullable(),
  deletedAt: Timestamp.nullable(),
  createdAt: Timestamp,
});
export type Message = z.infer<typeof Message>;

export const ChatgroupIdParams = z.object({ chatgroupId: Id });
export type ChatgroupIdParams = z.infer<typeof ChatgroupIdParams>;

export const MessageParams = z.object({ messageId: Id });
export type MessageParams = z.infer<typeof MessageParams>;

export const ReactionParams = z.object({ messageId: Id, emoji: ReactionEmoji });
export type ReactionParams = z.infer<typeof ReactionParams>;

/** A client key makes a retried post return the first message instead of posting twice. */
export const ClientKey = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9._:-]+$/, "letters, digits, '.', '_', ':' or '-'")
  .refine((key) => !key.startsWith("task:"), "the 'task:' prefix is reserved");

export const CreateMessageBody = z
  .object({
    body: z.string().max(MAX_MESSAGE_CHARS).default(""),
    clientKey: ClientKey.optional(),
    /** Reply in the thread of this message (a reply to a reply joins the same thread). */
    threadRootId: Id.optional(),
    attachments: z.array(MessageAttachment).max(MAX_MESSAGE_ATTACHMENTS).default([]),
  })
  .refine((value) => value.body.trim() !== "" || value.attachments.length > 0, {
    message: "a message needs a body or an attachment",
    path: ["body"],
  });
export type CreateMessageBody = z.infer<typeof CreateMessageBody>;

/** `Idempotency-Key`: the standard spelling of `clientKey` for API clients (same rules). */
export const CreateMessageHeaders = z.looseObject({ "idempotency-key": ClientKey.optional() });
export type CreateMessageHeaders = z.infer<typeof CreateMessageHeaders>;

export const EditMessageBody = z.object({
  body: z
    .string()
    .max(MAX_MESSAGE_CHARS)
    .refine((body) => body.trim() !== "", "must not be empty"),
});
export type EditMessageBody = z.infer<typeof EditMessageBody>;

export const MessageEdit = z.object({ version: z.number().int(), body: z.string(), editedAt: Timestamp });
export type MessageEdit = z.infer<typeof MessageEdit>;

export const MessageEditsResponse = z.object({ items: z.array(MessageEdit) });
export type MessageEditsResponse = z.infer<typeof MessageEditsResponse>;

// ---- history -------------------------------------------------------------------

/**
 * One page of a chatgroup's history, oldest first. Without a position it is the latest
 * page; `before`/`after` page by seq; `around` centres the page on a message (jump-to).
 */
export const ListMessagesQuery = z
  .object({
    before: z.coerce.number().int().min(1).optional(),
    after: z.coerce.number().int().min(0).optional(),
    around: Id.optional(),
    /** Only the replies of this thread. */
    threadRootId: Id.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .refine(
    (q) => [q.before, q.after, q.around].filter((v) => v !== undefined).length <= 1,
    "use at most one of before, after and around",
  );
export type ListMessagesQuery = z.infer<typeof ListMessagesQuery>;

export const MessagePage = z.object({
  items: z.array(Message),
  hasMoreBefore: z.boolean(),
  hasMoreAfter: z.boolean(),
  /** The chatgroup's latest seq when the page was read. */
  lastSeq: z.number().int().min(0),
});
export type MessagePage = z.infer<typeof MessagePage>;

export const SearchMessagesQuery = z.object({
  q: z.string().trim().min(1).max(200),
  chatgroupId: Id.optional(),
  cursor: z.string().max(512).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});
export type SearchMessagesQuery = z.infer<typeof SearchMessagesQuery>;

export const SearchMessagesResponse = z.object({
  items: z.array(Message),
  nextCursor: z.string().nullable(),
});
export type SearchMessagesResponse = z.infer<typeof SearchMessagesResponse>;

export const ChatgroupActivity = z.object({
  chatgroupId: Id,
  teamId: Id,
  name: z.string(),
  isArchived: z.boolean(),
  lastSeq: z.number().int().min(0),
  lastReadSeq: z.number().int().min(0),
  /** Messages after the read marker that others wrote and that are not deleted. */
  unreadCount: z.number().int().min(0),
});
export type ChatgroupActivity = z.infer<typeof ChatgroupActivity>;

export const ChatgroupActivityResponse = z.object({ items: z.array(ChatgroupActivity) });
export type ChatgroupActivityResponse = z.infer<typeof ChatgroupActivityResponse>;

export const ReadMarkerBody = z.object({ seq: z.number().int().min(0) });
export type ReadMarkerBody = z.infer<typeof ReadMarkerBody>;

export const ReadMarkerResponse = z.object({
  chatgroupId: Id,
  lastReadSeq: z.number().int().min(0),
  unreadCount: z.number().int().min(0),
});
export type ReadMarkerResponse = z.infer<typeof ReadMarkerResponse>;

// ---- realtime ------------------------------------------------------------------

export const RealtimeTicketResponse = z.object({
  /** Single use, valid for a few seconds: pass it as `?ticket=` when opening the socket. */
  ticket: z.string(),
  expiresAt: Timestamp,
  /** Path of the WebSocket endpoint. */
  url: z.string(),
});
export type RealtimeTicketResponse = z.infer<typeof RealtimeTicketResponse>;

export const RealtimeQuery = z.object({ ticket: z.string().min(1).max(128) });
export type RealtimeQuery = z.infer<typeof RealtimeQuery>;

/** Close codes of the realtime socket (see apps/chat/README.md). */
export const realtimeCloseCodes = {
  normal: 1000,
  policyViolation: 1008,
  frameTooLarge: 1009,
  internalError: 1011,
  serviceRestart: 1012,
  revoked: 4001,
  slowConsumer: 4008,
  rateLimited: 4029,
} as const;

export const RealtimeSubscribeFrame = z.object({
  type: z.literal("subscribe"),
  chatgroupId: Id,
  /** The last seq the client holds: the server replays what came after it. */
  afterSeq: z.number().int().min(0).optional(),
});
export type RealtimeSubscribeFrame = z.infer<typeof RealtimeSubscribeFrame>;

export const RealtimeUnsubscribeFrame = z.object({ type: z.literal("unsubscribe"), chatgroupId: Id });
export type RealtimeUnsubscribeFrame = z.infer<typeof RealtimeUnsubscribeFrame>;

export const RealtimeTypingFrame = z.object({ type: z.literal("typing"), chatgroupId: Id });
export type RealtimeTypingFrame = z.infer<typeof RealtimeTypingFrame>;

export const RealtimeReadFrame = z.object({
  type: z.literal("read"),
  chatgroupId: Id,
  seq: z.number().int().min(0),
});
export type RealtimeReadFrame = z.infer<typeof RealtimeReadFrame>;

export const RealtimePingFrame = z.object({ type: z.literal("ping"), id: z.string().max(64).optional() });
export type RealtimePingFrame = z.infer<typeof RealtimePingFrame>;

export const RealtimeClientFrame = z.discriminatedUnion("type", [
  RealtimeSubscribeFrame,
  RealtimeUnsubscribeFrame,
  RealtimeTypingFrame,
  RealtimeReadFrame,
  RealtimePingFrame,
]);
export type RealtimeClientFrame = z.infer<typeof RealtimeClientFrame>;

export const RealtimeMessageFrame = z.object({
  type: z.literal("message"),
  chatgroupId: Id,
  message: Message,
});
export type RealtimeMessageFrame = z.infer<typeof RealtimeMessageFrame>;

export const RealtimeMessageChangedFrame = z.object({
  type: z.literal("message_changed"),
  chatgroupId: Id,
  seq: z.number().int().min(1),
  change: z.enum(["edited", "deleted", "reactions"]),
  message: Message,
});
export type RealtimeMessageChangedFrame = z.infer<typeof RealtimeMessageChangedFrame>;

export const RealtimeTypingEventFrame = z.object({ type: z.literal("typing"), chatgroupId: Id, userId: Id });
export type RealtimeTypingEventFrame = z.infer<typeof RealtimeTypingEventFrame>;

export const RealtimePresenceFrame = z.object({
  type: z.literal("presence"),
  chatgroupId: Id,
  userIds: z.array(Id),
});
export type RealtimePresenceFrame = z.infer<typeof RealtimePresenceFrame>;

export const RealtimeReadMarkerFrame = z.object({
  type: z.literal("read_marker"),
  chatgroupId: Id,
  seq: z.number().int().min(0),
});
export type RealtimeReadMarkerFrame = z.infer<typeof RealtimeReadMarkerFrame>;

export const RealtimeTaskStatusFrame = z.object({
  type: z.literal("task_status"),
  chatgroupId: Id,
  taskId: Id,
  robotId: Id,
  messageId: Id.nullable(),
  status: TaskStatus,
  attempt: z.number().int(),
  error: z.string().nullable(),
});
export type RealtimeTaskStatusFrame = z.infer<typeof RealtimeTaskStatusFrame>;

export const RealtimeTaskProgressFrame = z.object({
  type: z.literal("task_progress"),
  chatgroupId: Id,
  taskId: Id,
  robotId: Id,
  seq: z.number().int(),
  kind: ProgressKind,
  data: z.string(),
});
export type RealtimeTaskProgressFrame = z.infer<typeof RealtimeTaskProgressFrame>;

export const RealtimeSubscribedFrame = z.object({
  type: z.literal("subscribed"),
  chatgroupId: Id,
  /** The chatgroup's latest seq at subscription: replayed messages (if any) follow, then live ones. */
  lastSeq: z.number().int().min(0),
});
export type RealtimeSubscribedFrame = z.infer<typeof RealtimeSubscribedFrame>;

export const RealtimeReloadRequiredFrame = z.object({
  type: z.literal("reload_required"),
  chatgroupId: Id,
  /** Live messages continue after this seq; load the history up to it over REST. */
  lastSeq: z.number().int().min(0),
});
export type RealtimeReloadRequiredFrame = z.infer<typeof RealtimeReloadRequiredFrame>;

export const RealtimeUnsubscribedFrame = z.object({
  type: z.literal("unsubscribed"),
  chatgroupId: Id,
  reason: z.enum(["requested", "access_revoked"]),
});
export type RealtimeUnsubscribedFrame = z.infer<typeof RealtimeUnsubscribedFrame>;

export const RealtimeErrorCode = z.enum([
  "invalid_frame",
  "unknown_type",
  "not_found",
  "rate_limited",
  "too_many_subscriptions",
  "not_subscribed",
  "internal",
]);
export type RealtimeErrorCode = z.infer<typeof RealtimeErrorCode>;

export const RealtimeErrorFrame = z.object({
  type: z.literal("error"),
  code: RealtimeErrorCode,
  message: z.string(),
  chatgroupId: Id.optional(),
});
export type RealtimeErrorFrame = z.infer<typeof RealtimeErrorFrame>;

export const RealtimePongFrame = z.object({ type: z.literal("pong"), id: z.string().optional() });
export type RealtimePongFrame = z.infer<typeof RealtimePongFrame>;

export const RealtimeServerFrame = z.discriminatedUnion("type", [
  RealtimeMessageFrame,
  RealtimeMessageChangedFrame,
  RealtimeTypingEventFrame,
  RealtimePresenceFrame,
  RealtimeReadMarkerFrame,
  RealtimeTaskStatusFrame,
  RealtimeTaskProgressFrame,
  RealtimeSubscribedFrame,
  RealtimeReloadRequiredFrame,
  RealtimeUnsubscribedFrame,
  RealtimeErrorFrame,
  RealtimePongFrame,
]);
export type RealtimeServerFrame = z.infer<typeof RealtimeServerFrame>;

// ---- routes ----------------------------------------------------------------------

const tags = ["chat"] as const;

/** The chat service's REST surface, relative to `/api/chat`. */
export const chatRoutes = {
  listChatgroups: defineRoute({
    method: "GET",
    path: "/chatgroups",
    summary: "Chatgroups you may read, with last seq and unread counts",
    tags,
    auth: "user",
    responses: { 200: ChatgroupActivityResponse },
  }),
  postMessage: defineRoute({
    method: "POST",
    path: "/chatgroups/:chatgroupId/messages",
    summary: "Post a message (a retry with the same clientKey returns the first message)",
    description: [
      "Idempotent when keyed: give `clientKey` in the body or, equivalently, an `Idempotency-Key`",
      "header (both at once must agree, else 400). A retry with the same key by the same author",
      "in the same chatgroup — sequential or concurrent, on any replica (the database decides) —",
      "creates nothing and answers **200** with the first message (same `id` and `seq`); the",
      "first post answers **201**. The retry's body is not compared: the first message wins.",
    ].join(" "),
    tags,
    auth: "user-or-robot",
    params: ChatgroupIdParams,
    body: CreateMessageBody,
    headers: CreateMessageHeaders,
    responses: { 200: Message, 201: Message },
  }),
  listMessages: defineRoute({
    method: "GET",
    path: "/chatgroups/:chatgroupId/messages",
    summary: "A page of history by seq (latest, before, after or around a message)",
    tags,
    auth: "user-or-robot",
    params: ChatgroupIdParams,
    query: ListMessagesQuery,
    responses: { 200: MessagePage },
  }),
  markRead: defineRoute({
    method: "PUT",
    path: "/chatgroups/:chatgroupId/read",
    summary: "Move your read marker forward",
    tags,
    auth: "user",
    params: ChatgroupIdParams,
    body: ReadMarkerBody,
    responses: { 200: ReadMarkerResponse },
  }),
  getMessage: defineRoute({
    method: "GET",
    path: "/messages/:messageId",
    summary: "One message",
    tags,
    auth: "user-or-robot",
    params: MessageParams,
    responses: { 200: Message },
  }),
  editMessage: defineRoute({
    method: "PATCH",
    path: "/messages/:messageId",
    summary: "Edit your message (the previous text is kept in its history)",
    tags,
    auth: "user",
    params: MessageParams,
    body: EditMessageBody,
    responses: { 200: Message },
  }),
  deleteMessage: defineRoute({
    method: "DELETE",
    path: "/messages/:messageId",
    summary: "Delete a message (author, tenant owner or admin); leaves a tombstone",
    tags,
    auth: "user",
    params: MessageParams,
    responses: { 200: Message },
  }),
  listMessageEdits: defineRoute({
    method: "GET",
    path: "/messages/:messageId/edits",
    summary: "Earlier versions of an edited message",
    tags,
    auth: "user",
    params: MessageParams,
    responses: { 200: MessageEditsResponse },
  }),
  addReaction: defineRoute({
    method: "PUT",
    path: "/messages/:messageId/reactions/:emoji",
    summary: "React to a message",
    tags,
    auth: "user",
    params: ReactionParams,
    responses: { 200: Message },
  }),
  removeReaction: defineRoute({
    method: "DELETE",
    path: "/messages/:messageId/reactions/:emoji",
    summary: "Remove your reaction",
    tags,
    auth: "user",
    params: ReactionParams,
    responses: { 200: Message },
  }),
  searchMessages: defineRoute({
    method: "GET",
    path: "/search",
    summary: "Full-text search over the chatgroups you may read (newest first)",
    tags,
    auth: "user",
    query: SearchMessagesQuery,
    responses: { 200: SearchMessagesResponse },
  }),
  createRealtimeTicket: defineRoute({
    method: "POST",
    path: "/realtime/tickets",
    summary: "A single-use ticket (30 s) for opening the realtime WebSocket",
    tags,
    auth: "user",
    responses: { 201: RealtimeTicketResponse },
  }),
} as const;
