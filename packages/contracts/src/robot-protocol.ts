import { z } from "zod";
import { Handle, Id, Timestamp } from "./common.js";
import { ProgressKind, TaskStatus, TraceContext } from "./events.js";

/**
 * The robot protocol, version 1: what a robot (the nanobot or anyone's own client) and
 * the dispatch gateway say to each other over one outbound WebSocket
 * (`/api/dispatch/robot/v1/ws`) or the long-poll fallback with the same frames.
 * The prose specification is docs/robot-protocol.md.
 */
export const ROBOT_PROTOCOL_VERSION = 1;
export const ROBOT_PROTOCOL_MIN_VERSION = 1;

/** WebSocket close codes the gateway uses; robots decide whether to reconnect by them. */
export const RobotCloseCode = {
  /** Normal end (robot asked to leave, or a graceful drain). Reconnect at will. */
  normal: 1000,
  /** Frame larger than policy.maxFrameBytes. */
  frameTooLarge: 1009,
  /** Unexpected server error: reconnect with backoff. */
  internalError: 1011,
  /** The server is restarting: reconnect with backoff; leases can be resumed. */
  serviceRestart: 1012,
  /** Malformed or unexpected frames. */
  protocolError: 4000,
  /** Credential invalid or revoked, or the robot was removed: do not reconnect with the same credential. */
  unauthorized: 4001,
  /** No protocol version in common. */
  unsupportedVersion: 4002,
  /** hello not sent in time. */
  helloTimeout: 4003,
  /** The access token expired: fetch a fresh one with the credential and reconnect (leases resume). */
  tokenExpired: 4004,
  /** Frame rate limit exceeded. */
  rateLimited: 4008,
  /** Another connection of the same robot replaced this one. */
  replaced: 4009,
} as const;
export type RobotCloseCode = (typeof RobotCloseCode)[keyof typeof RobotCloseCode];

export const Capability = z.enum(["shell", "fs", "mcp", "terminal", "agent", "command", "workspace"]);
export type Capability = z.infer<typeof Capability>;

export const LeaseRef = z.object({ taskId: Id, epoch: z.number().int().min(1) });
export type LeaseRef = z.infer<typeof LeaseRef>;

/** Every client frame carries a client-chosen id; the server answers each with ack or error naming it. */
const frameId = z.string().min(1).max(64);

// ---- robot → server ---------------------------------------------------------

export const HelloFrame = z.object({
  type: z.literal("hello"),
  id: frameId,
  protocol: z.object({ min: z.number().int().min(1), max: z.number().int().min(1) }),
  agent: z.object({ name: z.string().max(64), version: z.string().max(32) }),
  capabilities: z.array(Capability).max(16),
  concurrency: z.number().int().min(1).max(64),
  /** Leases the robot believes it holds (after a reconnect). */
  leases: z.array(LeaseRef).max(64).default([]),
});

export const AcceptFrame = z.object({ type: z.literal("accept"), id: frameId, taskId: Id, offerId: Id });
export const RejectFrame = z.object({
  type: z.literal("reject"),
  id: frameId,
  taskId: Id,
  offerId: Id,
  reason: z.string().max(500),
});
export const HeartbeatFrame = z.object({
  type: z.literal("heartbeat"),
  id: frameId,
  leases: z.array(LeaseRef).max(64),
});
export const ProgressFrame = z.object({
  type: z.literal("progress"),
  id: frameId,
  taskId: Id,
  epoch: z.number().int().min(1),
  /** Per task and epoch, from 1; a repeated seq is a harmless duplicate. */
  seq: z.number().int().min(1),
  kind: ProgressKind,
  data: z.string().max(65_536),
  /** W3C trace context of the robot's work on the task (optional; see the task's `trace`). */
  trace: TraceContext.optional(),
});
/** One model's share of a task's usage; `escalation` is why the robot moved on from it. */
export const ModelUsage = z.object({
  model: z.string().max(128),
  profile: z.string().max(64).optional(),
  inputTokens: z.number().int().min(0),
  outputTokens: z.number().int().min(0),
  costUsd: z.number().min(0).optional(),
  escalation: z.string().max(500).optional(),
});
export type ModelUsage = z.infer<typeof ModelUsage>;

/** Totals over the task (`model` answered last), and per model in the order they were used. */
export const TaskUsage = z.object({
  inputTokens: z.number().int().min(0).optional(),
  outputTokens: z.number().int().min(0).optional(),
  costUsd: z.number().min(0).optional(),
  model: z.string().max(128).optional(),
  models: z.array(ModelUsage).max(20).optional(),
});
export type TaskUsage = z.infer<typeof TaskUsage>;

export const TaskResult = z.object({
  text: z.string().max(200_000),
  usage: TaskUsage.optional(),
});
export type TaskResult = z.infer<typeof TaskResult>;

export const CompleteFrame = z.object({
  type: z.literal("complete"),
  id: frameId,
  taskId: Id,
  epoch: z.number().int().min(1),
  idempotencyKey: z.string().min(8).max(128),
  result: TaskResult,
  /** W3C trace context of the robot's work, so the platform's completion joins its trace. */
  trace: TraceContext.optional(),
});
export const FailFrame = z.object({
  type: z.literal("fail"),
  id: frameId,
  taskId: Id,
  epoch: z.number().int().min(1),
  idempotencyKey: z.string().min(8).max(128),
  error: z.object({ message: z.string().max(10_000), retryable: z.boolean() }),
  trace: TraceContext.optional(),
});
/** Acknowledges a cancel: the robot stopped its work; the task ends `cancelled`. */
export const CancelledFrame = z.object({
  type: z.literal("cancelled"),
  id: frameId,
  taskId: Id,
  epoch: z.number().int().min(1),
});
/** Gives a lease back unfinished (graceful shutdown); the task is offered again without using an attempt. */
export const ReleaseFrame = z.object({
  type: z.literal("release"),
  id: frameId,
  taskId: Id,
  epoch: z.number().int().min(1),
});

/** A lowercase hex sha256 digest. */
const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "a lowercase hex sha256 digest");

/**
 * Asks for a person's approval before running a dangerous command under this lease. The
 * approval binds `bindingHash` (see {@link approvalBindingMaterial}): the exact command,
 * working directory and environment; `requestId` is the robot's and makes a resend idempotent.
 */
export const ApprovalRequestFrame = z.object({
  type: z.literal("approval.request"),
  id: frameId,
  requestId: Id,
  taskId: Id,
  epoch: z.number().int().min(1),
  command: z.string().min(1).max(10_000),
  cwd: z.string().min(1).max(4_096),
  /** sha256 of {@link approvalEnvMaterial} of the environment the command runs with. */
  envHash: Sha256Hex,
  bindingHash: Sha256Hex,
  reason: z.string().max(1_000),
  /** Nobody answering within this long is a denial (status `expired`). */
  expiresInMs: z.number().int().min(1_000).max(3_600_000),
});
export type ApprovalRequestFrame = z.infer<typeof ApprovalRequestFrame>;

/** The canonical text of an environment: its entries sorted by name (sha256 it for `envHash`). */
export function approvalEnvMaterial(env: Record<string, string>): string {
  const entries = Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(entries);
}

/** The canonical text an approval binds (sha256 it for `bindingHash`); both sides compute it the same way. */
export function approvalBindingMaterial(subject: {
  taskId: string;
  command: string;
  cwd: string;
  envHash: string;
}): string {
  return JSON.stringify([
    "perseus.approval.v1",
    subject.taskId,
    subject.command,
    subject.cwd,
    subject.envHash,
  ]);
}

export type HelloFrame = z.infer<typeof HelloFrame>;
export type AcceptFrame = z.infer<typeof AcceptFrame>;
export type RejectFrame = z.infer<typeof RejectFrame>;
export type HeartbeatFrame = z.infer<typeof HeartbeatFrame>;
export type ProgressFrame = z.infer<typeof ProgressFrame>;
export type CompleteFrame = z.infer<typeof CompleteFrame>;
export type FailFrame = z.infer<typeof FailFrame>;
export type CancelledFrame = z.infer<typeof CancelledFrame>;
export type ReleaseFrame = z.infer<typeof ReleaseFrame>;

// ---- live terminals (robot → server) ------------------------------------------

/** Raw pty bytes travel as base64 in JSON; one chunk carries at most 16 KiB of them. */
export const TERMINAL_CHUNK_BYTES = 16_384;
const TerminalData = z
  .string()
  .max(65_536)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, "base64");

/** The pty of a `terminal.open` is running. */
export const TerminalOpenedFrame = z.object({
  type: z.literal("terminal.opened"),
  id: frameId,
  sessionId: Id,
});
/**
 * Output of a terminal session, in order (`seq` from 1). The ack of this frame is the
 * platform's credit: a robot keeps at most `terminal.open.window` bytes unacknowledged
 * and pauses its pty until acks come back.
 */
export const TerminalOutputFrame = z.object({
  type: z.literal("terminal.output"),
  id: frameId,
  sessionId: Id,
  seq: z.number().int().min(1),
  data: TerminalData,
});
/** The pty ended (`code`), or could not start (`error`); the session is over. */
export const TerminalExitFrame = z.object({
  type: z.literal("terminal.exit"),
  id: frameId,
  sessionId: Id,
  code: z.number().int().nullable(),
  error: z.string().max(1_000).optional(),
});
export type TerminalOpenedFrame = z.infer<typeof TerminalOpenedFrame>;
export type TerminalOutputFrame = z.infer<typeof TerminalOutputFrame>;
export type TerminalExitFrame = z.infer<typeof TerminalExitFrame>;

export const RobotClientFrame = z.discriminatedUnion("type", [
  HelloFrame,
  AcceptFrame,
  RejectFrame,
  HeartbeatFrame,
  ProgressFrame,
  CompleteFrame,
  FailFrame,
  CancelledFrame,
  ReleaseFrame,
  ApprovalRequestFrame,
  TerminalOpenedFrame,
  TerminalOutputFrame,
  TerminalExitFrame,
]);
export type RobotClientFrame = z.infer<typeof RobotClientFrame>;

// ---- server → robot ---------------------------------------------------------

export const RobotPolicy = z.object({
  heartbeatIntervalMs: z.number().int(),
  leaseTtlMs: z.number().int(),
  maxFrameBytes: z.number().int(),
  maxFramesPerSecond: z.number().int(),
  maxConcurrency: z.number().int(),
  offerTtlMs: z.number().int(),
});
export type RobotPolicy = z.infer<typeof RobotPolicy>;

export const HistoryMessage = z.object({
  id: Id,
  seq: z.number().int(),
  authorType: z.enum(["user", "robot", "system"]),
  authorName: z.string(),
  body: z.string(),
  createdAt: Timestamp,
});
export type HistoryMessage = z.infer<typeof HistoryMessage>;

export const OfferedTask = z.object({
  id: Id,
  prompt: z.string(),
  attempt: z.number().int().min(1),
  priority: z.number().int(),
  chatgroupId: Id.nullable(),
  /** The message that invoked the robot, if any. */
  message: HistoryMessage.nullable(),
  /** A bounded slice of the chatgroup's recent history, oldest first. */
  history: z.array(HistoryMessage),
  createdAt: Timestamp,
  /**
   * W3C trace context of the request that created the task, when the platform traces: a
   * robot that traces continues it and sends its own context back with progress and results.
   */
  trace: TraceContext.optional(),
});
export type OfferedTask = z.infer<typeof OfferedTask>;

export const Lease = z.object({
  taskId: Id,
  epoch: z.number().int().min(1),
  expiresAt: Timestamp,
  /** Task-scoped token: the invoking chatgroup's history and workspace view while the lease lives. */
  taskToken: z.string(),
});
export type Lease = z.infer<typeof Lease>;

export const WelcomeFrame = z.object({
  type: z.literal("welcome"),
  /** The id of the hello this answers. */
  ref: frameId,
  /** The negotiated version: the highest both sides support. */
  protocol: z.number().int(),
  connectionId: z.string(),
  /** The server's clock; lease times are the database's, so prefer the relative TTLs of `policy`. */
  serverTime: Timestamp,
  robot: z.object({ id: Id, tenantId: Id, handle: Handle, name: z.string() }),
  policy: RobotPolicy,
  features: z.array(z.string()),
  /** The robot's central configuration (executor, allow/deny lists, model profiles; no secrets). */
  config: z.object({ version: z.number().int(), settings: z.record(z.string(), z.unknown()) }),
  /** Leases from `hello.leases` that are still valid, with their task, so work can continue. */
  resumed: z.array(z.object({ lease: Lease, task: OfferedTask })),
  /** Leases from `hello.leases` that were lost (expired or moved on): stop that work. */
  lost: z.array(LeaseRef),
});

export const OfferFrame = z.object({
  type: z.literal("offer"),
  offerId: Id,
  task: OfferedTask,
  expiresAt: Timestamp,
});
export const AckFrame = z.object({
  type: z.literal("ack"),
  ref: frameId,
  /** accept → AcceptResult; heartbeat → HeartbeatResult; complete/fail/cancelled → EffectResult; others → {}. */
  result: z.record(z.string(), z.unknown()).default({}),
});

/** `ack.result` of an accept: the lease (a retried accept of the same offer returns the same lease). */
export const AcceptResult = z.object({ lease: Lease });
export type AcceptResult = z.infer<typeof AcceptResult>;

/** `ack.result` of a heartbeat: each lease's new expiry, or null when it is lost (a lease_lost frame follows). */
export const HeartbeatResult = z.object({
  leases: z.array(
    z.object({
      taskId: Id,
      epoch: z.number().int(),
      expiresAt: Timestamp.nullable(),
      /** A user asked to cancel: stop the work and send `cancelled`. */
      cancelRequested: z.boolean(),
    }),
  ),
});
export type HeartbeatResult = z.infer<typeof HeartbeatResult>;

/** `ack.result` of complete/fail/cancelled: the task's state after it; `duplicate` when the key was seen before. */
export const EffectResult = z.object({ status: TaskStatus, duplicate: z.boolean() });
export type EffectResult = z.infer<typeof EffectResult>;
export const RobotErrorCode = z.enum([
  "invalid_frame",
  "unknown_frame",
  "hello_required",
  "unsupported_version",
  "stale_epoch",
  "lease_expired",
  "not_found",
  "offer_expired",
  "conflict",
  "rate_limited",
  "concurrency_exceeded",
  "internal",
]);
export type RobotErrorCode = z.infer<typeof RobotErrorCode>;
export const ErrorFrame = z.object({
  type: z.literal("error"),
  ref: frameId.nullable(),
  code: RobotErrorCode,
  message: z.string(),
});
export const CancelFrame = z.object({
  type: z.literal("cancel"),
  taskId: Id,
  epoch: z.number().int().min(1),
  reason: z.string(),
});
export const LeaseLostFrame = z.object({
  type: z.literal("lease_lost"),
  taskId: Id,
  epoch: z.number().int(),
  reason: z.string(),
});
export const ConfigFrame = z.object({
  type: z.literal("config"),
  config: z.object({ version: z.number().int(), settings: z.record(z.string(), z.unknown()) }),
});

export const ApprovalDecision = z.enum(["approved", "denied", "expired"]);
export type ApprovalDecision = z.infer<typeof ApprovalDecision>;

/** An approval request's state: `pending` until decided, or until it expires. */
export const ApprovalStatus = z.enum(["pending", "approved", "denied", "expired"]);
export type ApprovalStatus = z.infer<typeof ApprovalStatus>;

/** `ack.result` of an approval.request (a resend of a decided request is answered with its decision, too). */
export const ApprovalRequestResult = z.object({ status: ApprovalStatus });
export type ApprovalRequestResult = z.infer<typeof ApprovalRequestResult>;

/**
 * The answer to an `approval.request`: sent once decided, and again after a reconnect
 * while the lease lives. A robot honours it only for a request it made and still waits
 * on, with its own binding hash, and only once.
 */
export const ApprovalDecidedFrame = z.object({
  type: z.literal("approval.decided"),
  requestId: Id,
  taskId: Id,
  decision: ApprovalDecision,
  bindingHash: Sha256Hex,
  /** The owner or admin who decided; null when the request expired. */
  decidedBy: Id.nullable(),
});
export type ApprovalDecidedFrame = z.infer<typeof ApprovalDecidedFrame>;

export type WelcomeFrame = z.infer<typeof WelcomeFrame>;
export type OfferFrame = z.infer<typeof OfferFrame>;
export type AckFrame = z.infer<typeof AckFrame>;
export type ErrorFrame = z.infer<typeof ErrorFrame>;
export type CancelFrame = z.infer<typeof CancelFrame>;
export type LeaseLostFrame = z.infer<typeof LeaseLostFrame>;
export type ConfigFrame = z.infer<typeof ConfigFrame>;

// ---- live terminals (server → robot) ------------------------------------------

/** Open a pty (robots that advertise the `terminal` capability only). */
export const TerminalOpenFrame = z.object({
  type: z.literal("terminal.open"),
  sessionId: Id,
  cols: z.number().int().min(1).max(500),
  rows: z.number().int().min(1).max(200),
  /** Flow control: output bytes the robot may have sent and not yet had acknowledged. */
  window: z.number().int().min(1),
});
/** Keystrokes for the pty (base64 of raw bytes). */
export const TerminalInputFrame = z.object({
  type: z.literal("terminal.input"),
  sessionId: Id,
  data: z.string().max(65_536),
});
export const TerminalResizeFrame = z.object({
  type: z.literal("terminal.resize"),
  sessionId: Id,
  cols: z.number().int().min(1).max(500),
  rows: z.number().int().min(1).max(200),
});
/** End the session: kill the pty; no `terminal.exit` is needed after it. */
export const TerminalCloseFrame = z.object({
  type: z.literal("terminal.close"),
  sessionId: Id,
  reason: z.string().max(200),
});
export type TerminalOpenFrame = z.infer<typeof TerminalOpenFrame>;
export type TerminalInputFrame = z.infer<typeof TerminalInputFrame>;
export type TerminalResizeFrame = z.infer<typeof TerminalResizeFrame>;
export type TerminalCloseFrame = z.infer<typeof TerminalCloseFrame>;

export const RobotServerFrame = z.discriminatedUnion("type", [
  WelcomeFrame,
  OfferFrame,
  AckFrame,
  ErrorFrame,
  CancelFrame,
  LeaseLostFrame,
  ConfigFrame,
  ApprovalDecidedFrame,
  TerminalOpenFrame,
  TerminalInputFrame,
  TerminalResizeFrame,
  TerminalCloseFrame,
]);
export type RobotServerFrame = z.infer<typeof RobotServerFrame>;

// ---- long-poll fallback ------------------------------------------------------

/** POST /robot/v1/poll: opens or continues a session; returns the server frames queued since `cursor`. */
export const RobotPollBody = z.object({
  sessionId: z.string().max(64).optional(),
  cursor: z.number().int().min(0).default(0),
  waitMs: z.number().int().min(0).max(30_000).default(25_000),
});
export const RobotPollResponse = z.object({
  sessionId: z.string(),
  /** Echo it in the next poll: frames up to it are acknowledged and dropped by the server. */
  cursor: z.number().int(),
  frames: z.array(RobotServerFrame),
});
/**
 * POST /robot/v1/frames: client frames of a poll session, handled in order; answered with
 * their welcome/ack/error frames. Offers, cancels and lease_lost arrive through poll.
 */
export const RobotFramesBody = z.object({
  sessionId: z.string().max(64),
  frames: z.array(RobotClientFrame).min(1).max(100),
});
export const RobotFramesResponse = z.object({ frames: z.array(RobotServerFrame) });
export type RobotPollBody = z.infer<typeof RobotPollBody>;
export type RobotPollResponse = z.infer<typeof RobotPollResponse>;
export type RobotFramesBody = z.infer<typeof RobotFramesBody>;
export type RobotFramesResponse = z.infer<typeof RobotFramesResponse>;
