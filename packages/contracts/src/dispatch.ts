// Wire schemas of the dispatch service: REST bodies, queries, responses and its route table.
// The robot protocol's frames live in robot-protocol.ts.
import { z } from "zod";
import { CursorQuery, Handle, Id, IdParams, Page, Timestamp } from "./common.js";
import { ProgressKind, TaskStatus } from "./events.js";
import {
  ApprovalStatus,
  RobotFramesBody,
  RobotFramesResponse,
  RobotPollBody,
  RobotPollResponse,
} from "./robot-protocol.js";
import { defineRoute } from "./routes.js";

// ---- tasks -------------------------------------------------------------------

export const TaskPriority = z.number().int().min(-100).max(100);

/** A task as the REST API shows it. `version` is its strong ETag (`"<version>"`). */
export const Task = z.object({
  id: Id,
  robotId: Id,
  chatgroupId: Id.nullable(),
  /** The chat message that invoked the robot, when it came from a mention. */
  messageId: Id.nullable(),
  requestedBy: Id.nullable(),
  prompt: z.string(),
  status: TaskStatus,
  priority: z.number().int(),
  /** Leases granted so far (1 while the first attempt runs). */
  attempt: z.number().int(),
  maxAttempts: z.number().int(),
  leaseEpoch: z.number().int(),
  leaseExpiresAt: Timestamp.nullable(),
  /** A queued retry is not offered before this instant (exponential backoff). */
  notBefore: Timestamp.nullable(),
  cancelRequestedAt: Timestamp.nullable(),
  result: z.string().nullable(),
  error: z.string().nullable(),
  /** Token usage and cost the robot reported with its result (`{}` when none). */
  usage: z.record(z.string(), z.unknown()),
  progressSeq: z.number().int(),
  version: z.number().int(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  finishedAt: Timestamp.nullable(),
  discardedAt: Timestamp.nullable(),
});
export type Task = z.infer<typeof Task>;

export const TaskAttempt = z.object({
  attempt: z.number().int(),
  epoch: z.number().int(),
  startedAt: Timestamp,
  endedAt: Timestamp.nullable(),
  /** succeeded · failed · lease_expired · released · cancelled; null while it runs. */
  outcome: z.string().nullable(),
  error: z.string().nullable(),
});
export type TaskAttempt = z.infer<typeof TaskAttempt>;

export const TaskProgressEntry = z.object({
  epoch: z.number().int(),
  seq: z.number().int(),
  kind: ProgressKind,
  data: z.string(),
  createdAt: Timestamp,
});
export type TaskProgressEntry = z.infer<typeof TaskProgressEntry>;

/** One task with its attempts and (the latest 500 entries of) its progress log, oldest first. */
export const TaskDetail = Task.extend({
  attempts: z.array(TaskAttempt),
  progress: z.array(TaskProgressEntry),
});
export type TaskDetail = z.infer<typeof TaskDetail>;

export const CreateTaskBody = z
  .object({
    /** The robot, by id or by handle (exactly one). */
    robotId: Id.optional(),
    robotHandle: Handle.optional(),
    prompt: z.string().trim().min(1).max(100_000),
    /** Where the robot works (history and workspace view); it must be invocable there. */
    chatgroupId: Id.optional(),
    priority: TaskPriority.default(0),
  })
  .refine((body) => (body.robotId === undefined) !== (body.robotHandle === undefined), {
    message: "give exactly one of robotId and robotHandle",
    path: ["robotId"],
  });
export type CreateTaskBody = z.infer<typeof CreateTaskBody>;

export const ListTasksQuery = CursorQuery.extend({
  status: TaskStatus.optional(),
  robotId: Id.optional(),
  chatgroupId: Id.optional(),
});
export type ListTasksQuery = z.infer<typeof ListTasksQuery>;

export const ListDeadLettersQuery = CursorQuery.extend({ robotId: Id.optional() });
export type ListDeadLettersQuery = z.infer<typeof ListDeadLettersQuery>;

export const TaskPage = Page(Task);
export type TaskPage = z.infer<typeof TaskPage>;

/** Conditional mutations: `If-Match` with the task's ETag (required for cancel, optional elsewhere). */
export const TaskIfMatchHeaders = z.object({ "if-match": z.string().max(200).optional() });
export type TaskIfMatchHeaders = z.infer<typeof TaskIfMatchHeaders>;

/** Optional: a request without a body cancels with no reason. */
export const CancelTaskBody = z.object({ reason: z.string().trim().max(500).optional() }).nullish();
export type CancelTaskBody = z.infer<typeof CancelTaskBody>;

// ---- robot presence ------------------------------------------------------------

export const RobotPresenceState = z.enum(["online", "busy", "offline"]);
export type RobotPresenceState = z.infer<typeof RobotPresenceState>;

export const RobotPresence = z.object({
  robotId: Id,
  state: RobotPresenceState,
  connections: z.number().int(),
  /** Tasks offered to or running on the robot's connections. */
  activeTasks: z.number().int(),
  /** Sum of the connections' slots (min of hello.concurrency and the robot's max_concurrency). */
  capacity: z.number().int(),
  lastSeenAt: Timestamp.nullable(),
});
export type RobotPresence = z.infer<typeof RobotPresence>;

export const RobotPresenceResponse = z.object({ items: z.array(RobotPresence) });
export type RobotPresenceResponse = z.infer<typeof RobotPresenceResponse>;

/** Published on the Redis channel `<prefix>:dispatch:presence` when a robot's presence changes. */
export const RobotPresenceEvent = z.object({ tenantId: Id, robotId: Id, state: RobotPresenceState });
export type RobotPresenceEvent = z.infer<typeof RobotPresenceEvent>;

// ---- approvals -------------------------------------------------------------------

/** A robot's request to run a dangerous command, as owners and admins see it. */
export const Approval = z.object({
  id: Id,
  taskId: Id,
  robotId: Id,
  chatgroupId: Id.nullable(),
  epoch: z.number().int(),
  command: z.string(),
  cwd: z.string(),
  envHash: z.string(),
  /** What a decision binds: sha256 of the command, working directory, environment hash and task. */
  bindingHash: z.string(),
  reason: z.string(),
  status: ApprovalStatus,
  requestedAt: Timestamp,
  expiresAt: Timestamp,
  decidedBy: Id.nullable(),
  decidedAt: Timestamp.nullable(),
});
export type Approval = z.infer<typeof Approval>;

export const ListApprovalsQuery = CursorQuery.extend({
  status: ApprovalStatus.optional(),
  taskId: Id.optional(),
});
export type ListApprovalsQuery = z.infer<typeof ListApprovalsQuery>;

export const ApprovalPage = Page(Approval);
export type ApprovalPage = z.infer<typeof ApprovalPage>;

export const DecideApprovalBody = z.object({ decision: z.enum(["approved", "denied"]) });
export type DecideApprovalBody = z.infer<typeof DecideApprovalBody>;

// ---- live terminals ----------------------------------------------------------------

export const TerminalStatus = z.enum(["opening", "open", "closed"]);
export type TerminalStatus = z.infer<typeof TerminalStatus>;

/**
 * Why a terminal session ended: `exit` (the shell exited), `closed` (closed by a person),
 * `idle`, `revoked` (the robot was revoked), `robot_disconnected`, `host_lost` (the replica
 * holding the robot's connection died), `open_failed`.
 */
export const TerminalCloseReason = z.string();
export type TerminalCloseReason = z.infer<typeof TerminalCloseReason>;

/** A live terminal on a robot, relayed by dispatch between the console and the robot's connection. */
export const TerminalSession = z.object({
  id: Id,
  robotId: Id,
  /** The user who opened it: the only one who may type. */
  openedBy: Id,
  chatgroupId: Id.nullable(),
  taskId: Id.nullable(),
  status: TerminalStatus,
  cols: z.number().int(),
  rows: z.number().int(),
  openedAt: Timestamp,
  closedAt: Timestamp.nullable(),
  exitCode: z.number().int().nullable(),
  closeReason: TerminalCloseReason.nullable(),
  /** The transcript goes into the chatgroup's workspace when the session closes. */
  recording: z.boolean(),
});
export type TerminalSession = z.infer<typeof TerminalSession>;

export const OpenTerminalBody = z.object({
  robotId: Id,
  cols: z.number().int().min(1).max(500),
  rows: z.number().int().min(1).max(200),
  chatgroupId: Id.optional(),
  taskId: Id.optional(),
});
export type OpenTerminalBody = z.infer<typeof OpenTerminalBody>;

export const ListTerminalsQuery = CursorQuery.extend({
  robotId: Id.optional(),
  /** `open` = not closed yet (opening or open). */
  status: z.enum(["open", "closed"]).optional(),
});
export type ListTerminalsQuery = z.infer<typeof ListTerminalsQuery>;

export const TerminalPage = Page(TerminalSession);
export type TerminalPage = z.infer<typeof TerminalPage>;

export const TerminalTicketBody = z.object({ mode: z.enum(["write", "read"]).default("write") });
export type TerminalTicketBody = z.infer<typeof TerminalTicketBody>;

export const TerminalTicketResponse = z.object({
  /** Single use, valid for a few seconds: pass it as `?ticket=` when opening the socket. */
  ticket: z.string(),
  expiresAt: Timestamp,
  /** Path of the WebSocket endpoint (`/api/dispatch/terminals/<id>/attach`). */
  url: z.string(),
  /** What the ticket grants: `write` only for the person who opened the session. */
  mode: z.enum(["write", "read"]),
});
export type TerminalTicketResponse = z.infer<typeof TerminalTicketResponse>;

export const TerminalAttachQuery = z.object({ ticket: z.string().min(1).max(128) });
export type TerminalAttachQuery = z.infer<typeof TerminalAttachQuery>;

/** Base64 of raw pty bytes. */
const TerminalBytes = z.string().max(1_500_000);

/** Server → browser frames of the attach socket (JSON text). The first is always `snapshot`. */
export const TerminalServerFrame = z.discriminatedUnion("type", [
  /** The session's recent output (its ring buffer), to paint the screen on (re)attach. */
  z.object({ type: z.literal("snapshot"), data: TerminalBytes }),
  z.object({ type: z.literal("output"), data: TerminalBytes }),
  /** Whether this viewer may type (only the opener's write ticket). */
  z.object({ type: z.literal("role"), writer: z.boolean() }),
  /** Something the viewer should know, e.g. output dropped because it fell behind. */
  z.object({ type: z.literal("notice"), text: z.string() }),
  z.object({ type: z.literal("exit"), code: z.number().int().nullable() }),
  /** The session is over; the server closes the socket after it. */
  z.object({ type: z.literal("closed"), reason: TerminalCloseReason }),
]);
export type TerminalServerFrame = z.infer<typeof TerminalServerFrame>;

/** Browser → server frames: keystrokes and resizes (the writer only). */
export const TerminalClientFrame = z.discriminatedUnion("type", [
  z.object({ type: z.literal("input"), data: z.string().max(65_536) }),
  z.object({
    type: z.literal("resize"),
    cols: z.number().int().min(1).max(500),
    rows: z.number().int().min(1).max(200),
  }),
]);
export type TerminalClientFrame = z.infer<typeof TerminalClientFrame>;

/** The tenant's terminal settings (owners and admins). */
export const TerminalSettings = z.object({
  /** Write each session's transcript (its last 1 MiB of output) into its chatgroup's workspace at close. */
  recordTranscripts: z.boolean(),
});
export type TerminalSettings = z.infer<typeof TerminalSettings>;

/** Close codes of the attach socket. */
export const terminalCloseCodes = {
  /** The session ended (after a `closed` frame). */
  normal: 1000,
  /** A malformed frame, or a ticket that is missing, used or expired. */
  policyViolation: 1008,
  /** The server is restarting: attach again with a new ticket. */
  serviceRestart: 1012,
} as const;

// ---- route table ------------------------------------------------------------------

const tags = ["tasks"] as const;

export const dispatchRoutes = {
  createTask: defineRoute({
    method: "POST",
    path: "/tasks",
    summary: "Create a task for a robot (the robot must be invocable in the chatgroup)",
    tags,
    auth: "user",
    body: CreateTaskBody,
    responses: { 201: Task },
  }),
  listTasks: defineRoute({
    method: "GET",
    path: "/tasks",
    summary: "List tasks visible to the caller, newest first",
    tags,
    auth: "user-or-robot",
    query: ListTasksQuery,
    responses: { 200: TaskPage },
  }),
  getTask: defineRoute({
    method: "GET",
    path: "/tasks/:id",
    summary: "A task with its attempts and progress log; ETag = version",
    tags,
    auth: "user-or-robot",
    params: IdParams,
    responses: { 200: TaskDetail },
  }),
  cancelTask: defineRoute({
    method: "POST",
    path: "/tasks/:id/cancel",
    summary: "Cancel a task (requester, owner or admin); If-Match required",
    tags,
    auth: "user",
    params: IdParams,
    headers: TaskIfMatchHeaders,
    body: CancelTaskBody,
    responses: { 200: Task },
  }),
  listDeadLetters: defineRoute({
    method: "GET",
    path: "/dead-letters",
    summary: "Tasks that used up their attempts and were not discarded",
    tags,
    auth: "user",
    query: ListDeadLettersQuery,
    responses: { 200: TaskPage },
  }),
  retryTask: defineRoute({
    method: "POST",
    path: "/tasks/:id/retry",
    summary: "Queue a dead or failed task again with fresh attempts (owners and admins)",
    tags,
    auth: "user",
    params: IdParams,
    headers: TaskIfMatchHeaders,
    responses: { 200: Task },
  }),
  discardTask: defineRoute({
    method: "POST",
    path: "/tasks/:id/discard",
    summary: "Take a dead letter off the list (owners and admins)",
    tags,
    auth: "user",
    params: IdParams,
    headers: TaskIfMatchHeaders,
    responses: { 200: Task },
  }),
  robotPresence: defineRoute({
    method: "GET",
    path: "/robots/presence",
    summary: "Which robots of the tenant are connected, busy or offline",
    tags: ["robots"],
    auth: "user",
    responses: { 200: RobotPresenceResponse },
  }),
  listApprovals: defineRoute({
    method: "GET",
    path: "/approvals",
    summary: "Approval requests of the tenant's robots, newest first (owners and admins)",
    tags: ["approvals"],
    auth: "user",
    query: ListApprovalsQuery,
    responses: { 200: ApprovalPage },
  }),
  decideApproval: defineRoute({
    method: "POST",
    path: "/approvals/:id/decision",
    summary: "Approve or deny a pending request, once (owners and admins; never a robot)",
    tags: ["approvals"],
    auth: "user",
    params: IdParams,
    body: DecideApprovalBody,
    responses: { 200: Approval },
  }),
  openTerminal: defineRoute({
    method: "POST",
    path: "/terminals",
    summary: "Open a live terminal on a connected robot with the terminal capability (owners and admins)",
    tags: ["terminals"],
    auth: "user",
    body: OpenTerminalBody,
    responses: { 201: TerminalSession },
  }),
  listTerminals: defineRoute({
    method: "GET",
    path: "/terminals",
    summary: "Terminal sessions of the tenant's robots, newest first (owners and admins)",
    tags: ["terminals"],
    auth: "user",
    query: ListTerminalsQuery,
    responses: { 200: TerminalPage },
  }),
  getTerminal: defineRoute({
    method: "GET",
    path: "/terminals/:id",
    summary: "One terminal session (owners and admins)",
    tags: ["terminals"],
    auth: "user",
    params: IdParams,
    responses: { 200: TerminalSession },
  }),
  closeTerminal: defineRoute({
    method: "DELETE",
    path: "/terminals/:id",
    summary: "Close a terminal session (its opener, an owner or an admin); idempotent",
    tags: ["terminals"],
    auth: "user",
    params: IdParams,
    responses: { 200: TerminalSession },
  }),
  createTerminalTicket: defineRoute({
    method: "POST",
    path: "/terminals/:id/tickets",
    summary: "A single-use ticket (30 s) for attaching to a terminal's WebSocket; write for the opener only",
    tags: ["terminals"],
    auth: "user",
    params: IdParams,
    body: TerminalTicketBody,
    responses: { 201: TerminalTicketResponse },
  }),
  getTerminalSettings: defineRoute({
    method: "GET",
    path: "/terminal-settings",
    summary: "The tenant's terminal settings (owners and admins)",
    tags: ["terminals"],
    auth: "user",
    responses: { 200: TerminalSettings },
  }),
  updateTerminalSettings: defineRoute({
    method: "PUT",
    path: "/terminal-settings",
    summary: "Change the tenant's terminal settings (owners and admins); applies to sessions opened after",
    tags: ["terminals"],
    auth: "user",
    body: TerminalSettings,
    responses: { 200: TerminalSettings },
  }),
  robotPoll: defineRoute({
    method: "POST",
    path: "/robot/v1/poll",
    summary: "Long-poll fallback: open or continue a session and wait for server frames",
    tags: ["robot protocol"],
    auth: "robot",
    body: RobotPollBody,
    responses: { 200: RobotPollResponse },
  }),
  robotFrames: defineRoute({
    method: "POST",
    path: "/robot/v1/frames",
    summary: "Long-poll fallback: send client frames of a session; answered with their ack/error frames",
    tags: ["robot protocol"],
    auth: "robot",
    body: RobotFramesBody,
    responses: { 200: RobotFramesResponse },
  }),
} as const;
export type DispatchRoutes = typeof dispatchRoutes;
