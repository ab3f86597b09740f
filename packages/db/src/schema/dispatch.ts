import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  unique,
  uuid,
} from "drizzle-orm/pg-core";
import { robots } from "./auth.js";
import { createdAt, tenantId, ts } from "./columns.js";

/**
 * A unit of robot work. The lease columns are the fencing state: every robot write
 * must carry `leaseEpoch` and arrive before `leaseExpiresAt` (compared with now() in SQL).
 */
export const tasks = pgTable(
  "tasks",
  {
    tenantId: tenantId(),
    id: uuid().notNull(),
    robotId: uuid().notNull(),
    chatgroupId: uuid(),
    messageId: uuid(),
    requestedBy: uuid(),
    prompt: text().notNull(),
    status: text().notNull().default("queued"),
    priority: integer().notNull().default(0),
    attempt: integer().notNull().default(0),
    maxAttempts: integer().notNull().default(3),
    leaseEpoch: bigint({ mode: "number" }).notNull().default(0),
    /** The robot connection an offer went to, or the one holding the lease. */
    leaseHolder: text(),
    leaseExpiresAt: ts(),
    /** The current (or last accepted) offer; accept names it, so a retried accept is idempotent. */
    offerId: uuid(),
    offerExpiresAt: ts(),
    /** A user asked to cancel a running task; it ends `cancelled` when the robot confirms or the lease lapses. */
    cancelRequestedAt: ts(),
    /** A dead letter an owner or admin set aside (it leaves the dead-letter list, stays `dead`). */
    discardedAt: ts(),
    /** sha256 of the current lease's task token (minted anew at each lease grant). */
    taskTokenHash: text(),
    notBefore: ts(),
    result: text(),
    error: text(),
    /** Bumped on every change; the strong ETag of the task. */
    version: integer().notNull().default(1),
    progressSeq: bigint({ mode: "number" }).notNull().default(0),
    usage: jsonb().notNull().default(sql`'{}'::jsonb`),
    createdAt: createdAt(),
    updatedAt: createdAt(),
    finishedAt: ts(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    unique().on(t.tenantId, t.messageId, t.robotId),
    foreignKey({ columns: [t.tenantId, t.robotId], foreignColumns: [robots.tenantId, robots.id] }),
    index().on(t.tenantId, t.robotId, t.status),
    index().on(t.status, t.leaseExpiresAt),
    index().on(t.status, t.offerExpiresAt),
    index().on(t.status, t.notBefore),
    // Per-robot claim order: priority first, then age.
    index("tasks_claim_idx")
      .on(t.tenantId, t.robotId, t.priority.desc(), t.createdAt)
      .where(sql`${t.status} = 'queued'`),
    index().on(t.tenantId, t.createdAt, t.id),
  ],
);

export const taskAttempts = pgTable(
  "task_attempts",
  {
    tenantId: tenantId(),
    taskId: uuid().notNull(),
    attempt: integer().notNull(),
    epoch: bigint({ mode: "number" }).notNull(),
    holder: text().notNull(),
    startedAt: createdAt(),
    endedAt: ts(),
    outcome: text(),
    error: text(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.taskId, t.epoch] }),
    foreignKey({ columns: [t.tenantId, t.taskId], foreignColumns: [tasks.tenantId, tasks.id] }),
  ],
);

export const taskProgress = pgTable(
  "task_progress",
  {
    tenantId: tenantId(),
    taskId: uuid().notNull(),
    epoch: bigint({ mode: "number" }).notNull(),
    seq: bigint({ mode: "number" }).notNull(),
    kind: text().notNull(),
    data: text().notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.taskId, t.epoch, t.seq] }),
    foreignKey({ columns: [t.tenantId, t.taskId], foreignColumns: [tasks.tenantId, tasks.id] }),
  ],
);

/** Side-effecting robot frames already applied, keyed by their idempotency key. */
export const taskEffects = pgTable(
  "task_effects",
  {
    tenantId: tenantId(),
    taskId: uuid().notNull(),
    idempotencyKey: text().notNull(),
    response: jsonb().notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.taskId, t.idempotencyKey] }),
    foreignKey({ columns: [t.tenantId, t.taskId], foreignColumns: [tasks.tenantId, tasks.id] }),
  ],
);

/**
 * A robot's request to run a dangerous command under a lease, and its one decision.
 * `bindingHash` is what the decision binds (command, working directory, environment,
 * task); a pending request past `expiresAt` counts as expired, which is a denial.
 */
export const approvals = pgTable(
  "approvals",
  {
    tenantId: tenantId(),
    /** The robot's request id: a resent request finds its row. */
    id: uuid().notNull(),
    taskId: uuid().notNull(),
    robotId: uuid().notNull(),
    chatgroupId: uuid(),
    epoch: bigint({ mode: "number" }).notNull(),
    command: text().notNull(),
    cwd: text().notNull(),
    envHash: text().notNull(),
    bindingHash: text().notNull(),
    reason: text().notNull(),
    /** pending · approved · denied · expired */
    status: text().notNull().default("pending"),
    /** The credential of the connection that asked. */
    requestedBy: uuid().notNull(),
    requestedAt: createdAt(),
    expiresAt: ts().notNull(),
    decidedBy: uuid(),
    decidedAt: ts(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    foreignKey({ columns: [t.tenantId, t.taskId], foreignColumns: [tasks.tenantId, tasks.id] }),
    index().on(t.tenantId, t.status, t.requestedAt),
    index().on(t.tenantId, t.taskId),
  ],
);

/**
 * A live terminal on a robot: who opened it, where it runs, how it ended. The bytes never
 * touch Postgres; they flow through per-session Redis streams (see the dispatch README).
 */
export const terminalSessions = pgTable(
  "terminal_sessions",
  {
    tenantId: tenantId(),
    id: uuid().notNull(),
    robotId: uuid().notNull(),
    /** The user who opened it: the only one who may type. */
    openedBy: uuid().notNull(),
    chatgroupId: uuid(),
    taskId: uuid(),
    /** opening · open · closed */
    status: text().notNull().default("opening"),
    cols: integer().notNull(),
    rows: integer().notNull(),
    /** Whether the transcript goes into the chatgroup's workspace at close. */
    recording: boolean().notNull().default(false),
    /** The robot connection that runs the pty. */
    connectionId: text(),
    openedAt: createdAt(),
    closedAt: ts(),
    exitCode: integer(),
    /** exit · closed · idle · revoked · robot_disconnected · host_lost · open_failed */
    closeReason: text(),
    closedBy: uuid(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    foreignKey({ columns: [t.tenantId, t.robotId], foreignColumns: [robots.tenantId, robots.id] }),
    index().on(t.tenantId, t.openedAt),
    index().on(t.tenantId, t.robotId, t.status),
  ],
);

/** Per-tenant terminal settings (one row per tenant, absent = defaults). */
export const terminalSettings = pgTable("terminal_settings", {
  tenantId: tenantId().primaryKey(),
  /** Record each session's transcript into its chatgroup's workspace at close. */
  recordTranscripts: boolean().notNull().default(false),
  updatedBy: uuid(),
  updatedAt: createdAt(),
});
