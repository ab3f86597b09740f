import { z } from "zod";
import { Handle, Id, TenantId, Timestamp } from "./common.js";

/** W3C trace context carried with an event so a trace follows it across services. */
export const TraceContext = z.object({
  traceparent: z.string().max(128).optional(),
  tracestate: z.string().max(512).optional(),
});
export type TraceContext = z.infer<typeof TraceContext>;

/**
 * The envelope of every domain event on the bus. `id` is unique per event and is the
 * idempotency key of consumers: delivery is at-least-once, so handlers dedupe on it.
 */
export const EventEnvelope = z.object({
  id: Id,
  type: z.string().min(1).max(100),
  version: z.number().int().min(1),
  tenantId: TenantId,
  occurredAt: Timestamp,
  payload: z.unknown(),
  trace: TraceContext.optional(),
});
export type EventEnvelope = z.infer<typeof EventEnvelope>;

// ---- payloads -------------------------------------------------------------

export const MentionedRobot = z.object({ robotId: Id, handle: Handle });
export type MentionedRobot = z.infer<typeof MentionedRobot>;

export const MessageAuthorType = z.enum(["user", "robot", "system"]);
export type MessageAuthorType = z.infer<typeof MessageAuthorType>;

export const MessageCreatedPayload = z.object({
  messageId: Id,
  chatgroupId: Id,
  teamId: Id,
  seq: z.number().int().min(1),
  authorType: MessageAuthorType,
  authorId: Id.nullable(),
  body: z.string(),
  threadRootId: Id.nullable(),
  mentions: z.object({ users: z.array(Id), robots: z.array(MentionedRobot) }),
  /** Set on a robot's reply: the task whose result this message is. */
  taskId: Id.nullable(),
  createdAt: Timestamp,
});

export const MessageChangedPayload = z.object({
  messageId: Id,
  chatgroupId: Id,
  seq: z.number().int().min(1),
  change: z.enum(["edited", "deleted", "reactions"]),
});

export const TaskStatus = z.enum([
  "queued",
  "offered",
  "running",
  "succeeded",
  "failed",
  "cancelled",
  "dead",
]);
export type TaskStatus = z.infer<typeof TaskStatus>;

export const TaskStatusPayload = z.object({
  taskId: Id,
  robotId: Id,
  chatgroupId: Id.nullable(),
  messageId: Id.nullable(),
  status: TaskStatus,
  attempt: z.number().int().min(0),
  error: z.string().nullable(),
});

export const ProgressKind = z.enum(["text", "reasoning", "tool_call", "stdout", "stderr", "status"]);
export type ProgressKind = z.infer<typeof ProgressKind>;

export const TaskProgressPayload = z.object({
  taskId: Id,
  robotId: Id,
  chatgroupId: Id.nullable(),
  seq: z.number().int().min(0),
  kind: ProgressKind,
  data: z.string(),
});

export const TaskSucceededPayload = z.object({
  taskId: Id,
  robotId: Id,
  chatgroupId: Id.nullable(),
  messageId: Id.nullable(),
  result: z.string(),
  /** The task's usage as stored (see TaskUsage); absent from events written before it. */
  usage: z.record(z.string(), z.unknown()).optional(),
});

export const MembershipChangedPayload = z.object({
  userId: Id,
  scope: z.enum(["tenant", "team", "chatgroup"]),
  scopeId: Id,
  /** The new role, or null when the membership was removed. */
  role: z.string().nullable(),
});

export const PrincipalRevokedPayload = z.object({
  kind: z.enum(["user", "robot", "session", "api_key"]),
  id: Id,
  /** Tokens issued before this instant are no longer accepted. */
  notBefore: Timestamp,
});

export const FileChangedPayload = z.object({
  layer: z.enum(["tenant", "team", "chatgroup"]),
  layerId: Id,
  path: z.string(),
  change: z.enum(["created", "updated", "deleted", "moved"]),
  etag: z.string().nullable(),
});

/** A robot asked to run a dangerous command: the chat of the task shows the request. */
export const ApprovalRequestedPayload = z.object({
  approvalId: Id,
  taskId: Id,
  robotId: Id,
  chatgroupId: Id.nullable(),
  command: z.string(),
  cwd: z.string(),
  reason: z.string(),
  expiresAt: Timestamp,
});

export const ApprovalDecidedPayload = z.object({
  approvalId: Id,
  taskId: Id,
  robotId: Id,
  chatgroupId: Id.nullable(),
  decision: z.enum(["approved", "denied", "expired"]),
  decidedBy: Id.nullable(),
});

/**
 * A live terminal session ended and its tenant records transcripts: the workspace service
 * writes `transcript` (base64 of the output's last bytes) at `path` in the chatgroup's layer,
 * on behalf of the person who opened the session.
 */
export const TerminalRecordedPayload = z.object({
  sessionId: Id,
  robotId: Id,
  chatgroupId: Id,
  openedBy: Id,
  path: z.string(),
  transcript: z.string(),
  openedAt: Timestamp,
  closedAt: Timestamp,
});

/**
 * The event catalog: every event type, the stream topic it travels on, its payload
 * schema and version. Publishers and consumers are typed by it.
 */
export const eventCatalog = {
  "message.created": { topic: "chat", version: 1, payload: MessageCreatedPayload },
  "message.changed": { topic: "chat", version: 1, payload: MessageChangedPayload },
  "task.status": { topic: "task", version: 1, payload: TaskStatusPayload },
  "task.progress": { topic: "task", version: 1, payload: TaskProgressPayload },
  "task.succeeded": { topic: "task", version: 1, payload: TaskSucceededPayload },
  "approval.requested": { topic: "task", version: 1, payload: ApprovalRequestedPayload },
  "approval.decided": { topic: "task", version: 1, payload: ApprovalDecidedPayload },
  "membership.changed": { topic: "identity", version: 1, payload: MembershipChangedPayload },
  "principal.revoked": { topic: "identity", version: 1, payload: PrincipalRevokedPayload },
  "robot.config_changed": {
    topic: "identity",
    version: 1,
    payload: z.object({ robotId: Id, version: z.number().int().min(1) }),
  },
  "file.changed": { topic: "workspace", version: 1, payload: FileChangedPayload },
  "terminal.recorded": { topic: "terminal", version: 1, payload: TerminalRecordedPayload },
} as const;

export type EventCatalog = typeof eventCatalog;
export type EventType = keyof EventCatalog;
export type EventTopic = EventCatalog[EventType]["topic"];
export type EventPayload<T extends EventType> = z.infer<EventCatalog[T]["payload"]>;

/** A parsed event whose payload type follows from its `type`. */
export type DomainEvent<T extends EventType = EventType> = {
  [K in T]: Omit<EventEnvelope, "type" | "payload"> & { type: K; payload: EventPayload<K> };
}[T];

export const eventTopics = [
  "chat",
  "task",
  "identity",
  "workspace",
  "terminal",
] as const satisfies readonly EventTopic[];

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(eventCatalog, type);
}
