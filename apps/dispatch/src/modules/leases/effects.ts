import type { CompleteFrame, EffectResult, FailFrame } from "@perseus/contracts";
import { type Db, schema, type Tx } from "@perseus/db";
import { and, eq, sql } from "drizzle-orm";
import { withTenantRetry } from "../../lib/tx.js";
import { announceStatus, type TaskRow } from "../tasks/task-events.js";
import { diagnose, type RobotRef, refuse, type Written } from "./lease-store.js";
import { backoffFromNow, fenced } from "./sql.js";

const { tasks, taskAttempts, taskEffects } = schema;

// Side-effecting robot frames: complete, fail and cancelled. Each is applied at most once.

/** The first answer to an idempotency key of this task, if the key was used before. */
async function priorEffect(tx: Tx, taskId: string, key: string): Promise<EffectResult | null> {
  const [row] = await tx
    .select({ response: taskEffects.response })
    .from(taskEffects)
    .where(and(eq(taskEffects.taskId, taskId), eq(taskEffects.idempotencyKey, key)));
  return row ? { ...(row.response as EffectResult), duplicate: true } : null;
}

/**
 * Applies a side-effecting frame once: the idempotency key is looked up first (a duplicate
 * gets the first answer), then the fenced update runs, then the key is stored with the
 * answer, all in one transaction with the attempt row and the outbox events.
 */
async function applyEffect(
  db: Db,
  robot: RobotRef,
  frame: { taskId: string; epoch: number; idempotencyKey: string },
  outcome: (tx: Tx) => Promise<TaskRow | undefined>,
  attemptOutcome: (row: TaskRow) => { outcome: string; error: string | null },
): Promise<Written<EffectOutcome>> {
  return withTenantRetry(db, { tenantId: robot.tenantId }, async (tx) => {
    const prior = await priorEffect(tx, frame.taskId, frame.idempotencyKey);
    if (prior) return { ok: true, ...prior, notBefore: null };
    const row = await outcome(tx);
    if (!row) {
      // A concurrent duplicate may have committed while we waited for the row lock.
      const raced = await priorEffect(tx, frame.taskId, frame.idempotencyKey);
      if (raced) return { ok: true, ...raced, notBefore: null };
      return diagnose(tx, robot, frame.taskId, frame.epoch);
    }
    const response: EffectResult = { status: row.status as EffectResult["status"], duplicate: false };
    await tx.insert(taskEffects).values({
      tenantId: robot.tenantId,
      taskId: frame.taskId,
      idempotencyKey: frame.idempotencyKey,
      response: { status: response.status },
    });
    await tx
      .update(taskAttempts)
      .set({ endedAt: sql`now()`, ...attemptOutcome(row) })
      .where(and(eq(taskAttempts.taskId, row.id), eq(taskAttempts.epoch, frame.epoch)));
    await announceStatus(tx, [row]);
    return { ok: true, ...response, notBefore: row.status === "queued" ? row.notBefore : null };
  });
}

/** The answer to a side-effecting frame, plus when a queued retry becomes due (for the scheduler). */
export type EffectOutcome = EffectResult & { notBefore: Date | null };

export function completeTask(db: Db, robot: RobotRef, frame: CompleteFrame): Promise<Written<EffectOutcome>> {
  return applyEffect(
    db,
    robot,
    frame,
    async (tx) => {
      const [row] = await tx
        .update(tasks)
        .set({
          status: "succeeded",
          result: frame.result.text,
          usage: frame.result.usage ?? {},
          error: null,
          taskTokenHash: null,
          finishedAt: sql`now()`,
          version: sql`${tasks.version} + 1`,
          updatedAt: sql`now()`,
        })
        .where(fenced(robot, frame.taskId, frame.epoch))
        .returning();
      return row;
    },
    () => ({ outcome: "succeeded", error: null }),
  );
}

/**
 * A failed attempt: a retryable failure is queued again after backoff while attempts
 * remain (then `dead`); a non-retryable one ends `failed`; with a cancel pending, `cancelled`.
 */
export function failTask(
  db: Db,
  robot: RobotRef,
  frame: FailFrame,
  policy: { retryBaseMs: number; retryMaxMs: number },
): Promise<Written<EffectOutcome>> {
  const isCancel = sql`${tasks.cancelRequestedAt} is not null`;
  const isRetry = sql`(${frame.error.retryable}::boolean and ${tasks.attempt} < ${tasks.maxAttempts})`;
  const isDead = sql`(${frame.error.retryable}::boolean and ${tasks.attempt} >= ${tasks.maxAttempts})`;
  return applyEffect(
    db,
    robot,
    frame,
    async (tx) => {
      const [row] = await tx
        .update(tasks)
        .set({
          status: sql`case when ${isCancel} then 'cancelled' when ${isRetry} then 'queued' when ${isDead} then 'dead' else 'failed' end`,
          notBefore: sql`case when ${isCancel} or not ${isRetry} then ${tasks.notBefore} else ${backoffFromNow(policy.retryBaseMs, policy.retryMaxMs)} end`,
          finishedAt: sql`case when ${isRetry} and not ${isCancel} then null else now() end`,
          error: frame.error.message.slice(0, 10_000),
          leaseHolder: null,
          taskTokenHash: null,
          offerId: null,
          version: sql`${tasks.version} + 1`,
          updatedAt: sql`now()`,
        })
        .where(fenced(robot, frame.taskId, frame.epoch))
        .returning();
      return row;
    },
    (row) => ({
      outcome: row.status === "cancelled" ? "cancelled" : "failed",
      error: frame.error.message.slice(0, 2000),
    }),
  );
}

/** The robot confirms a cancel: the task ends `cancelled`. A repeat is acknowledged as a duplicate. */
export async function confirmCancelled(
  db: Db,
  robot: RobotRef,
  frame: { taskId: string; epoch: number },
): Promise<Written<EffectOutcome>> {
  return withTenantRetry(db, { tenantId: robot.tenantId }, async (tx) => {
    const [row] = await tx
      .update(tasks)
      .set({
        status: "cancelled",
        taskTokenHash: null,
        finishedAt: sql`now()`,
        error: "cancelled",
        version: sql`${tasks.version} + 1`,
        updatedAt: sql`now()`,
      })
      .where(and(fenced(robot, frame.taskId, frame.epoch), sql`${tasks.cancelRequestedAt} is not null`))
      .returning();
    if (!row) {
      const [current] = await tx
        .select({ status: tasks.status, epoch: tasks.leaseEpoch, cancel: tasks.cancelRequestedAt })
        .from(tasks)
        .where(and(eq(tasks.id, frame.taskId), eq(tasks.robotId, robot.robotId)));
      if (current?.status === "cancelled" && current.epoch === frame.epoch)
        return { ok: true, status: "cancelled", duplicate: true, notBefore: null };
      if (current?.status === "running" && current.epoch === frame.epoch && !current.cancel)
        return refuse("conflict", "no cancel was requested for this task; send fail or release instead");
      return diagnose(tx, robot, frame.taskId, frame.epoch);
    }
    await tx
      .update(taskAttempts)
      .set({ endedAt: sql`now()`, outcome: "cancelled" })
      .where(and(eq(taskAttempts.taskId, row.id), eq(taskAttempts.epoch, frame.epoch)));
    await announceStatus(tx, [row]);
    return { ok: true, status: "cancelled", duplicate: false, notBefore: null };
  });
}
