import { createHash, randomBytes } from "node:crypto";
import { enqueueEvents } from "@perseus/bus";
import type { Lease, LeaseRef, OfferedTask, ProgressFrame, RobotErrorCode } from "@perseus/contracts";
import { type Db, schema, type Tx } from "@perseus/db";
import { and, eq, inArray, isNull, type SQL, sql } from "drizzle-orm";
import { withTenantRetry } from "../../lib/tx.js";
import { announceStatus, progressEvent, type TaskRow } from "../tasks/task-events.js";
import { loadOfferedTask } from "./context.js";
import { fenced, fromNow, lockTasksInOrder, robotIsAlive } from "./sql.js";

const { tasks, taskAttempts, taskProgress, robots } = schema;

/** The robot behind a connection, as its verified token says (never as it claims). */
export type RobotRef = { tenantId: string; robotId: string; credentialId: string };

export type WriteError = { ok: false; code: RobotErrorCode; message: string };
export type Written<T> = ({ ok: true } & T) | WriteError;

export const refuse = (code: RobotErrorCode, message: string): WriteError => ({ ok: false, code, message });

/** `ptt_<tenantId>_<taskId>_<secret>`; only its sha256 (hex of the whole token) is stored. */
export function mintTaskToken(tenantId: string, taskId: string): { token: string; hash: string } {
  const token = `ptt_${tenantId}_${taskId}_${randomBytes(32).toString("base64url")}`;
  return { token, hash: hashTaskToken(token) };
}
export const hashTaskToken = (token: string) => createHash("sha256").update(token, "utf8").digest("hex");

const leaseOf = (row: TaskRow, token: string): Lease => ({
  taskId: row.id,
  epoch: row.leaseEpoch,
  expiresAt: (row.leaseExpiresAt ?? new Date()).toISOString(),
  taskToken: token,
});

/** Why a fenced write changed nothing: the answer the robot gets in its error frame. */
export async function diagnose(tx: Tx, robot: RobotRef, taskId: string, epoch: number): Promise<WriteError> {
  const [row] = await tx
    .select({
      status: tasks.status,
      epoch: tasks.leaseEpoch,
      isLive: sql<boolean>`coalesce(${tasks.leaseExpiresAt} > now(), false)`,
      isAlive: sql<boolean>`${robotIsAlive(robot.credentialId)}`,
    })
    .from(tasks)
    .where(and(eq(tasks.id, taskId), eq(tasks.robotId, robot.robotId)));
  if (!row) return refuse("not_found", "no such task for this robot");
  if (epoch !== row.epoch)
    return refuse("stale_epoch", `epoch ${epoch} is not the current lease (${row.epoch})`);
  if (!row.isAlive) return refuse("lease_expired", "the robot or its credential was revoked");
  if (row.status !== "running")
    return refuse("lease_expired", `the lease has ended; the task is ${row.status}`);
  if (!row.isLive) return refuse("lease_expired", "the lease expired");
  return refuse("conflict", "the task changed concurrently; retry");
}

export type LeaseTtl = { leaseTtlMs: number; historyLimit: number };

/**
 * Accepts an offer under a fresh lease: epoch + 1, expiry = now() + TTL by the database
 * clock, a new task token. Accepting the same offer again (a lost ack) returns the live
 * lease with a fresh token instead of a second lease.
 */
export async function acceptOffer(
  db: Db,
  robot: RobotRef,
  connectionId: string,
  taskId: string,
  offerId: string,
  policy: LeaseTtl,
): Promise<Written<{ lease: Lease; isNew: boolean }>> {
  const { token, hash } = mintTaskToken(robot.tenantId, taskId);
  return withTenantRetry(db, { tenantId: robot.tenantId }, async (tx) => {
    const mine = and(eq(tasks.id, taskId), eq(tasks.robotId, robot.robotId), eq(tasks.offerId, offerId));
    const [granted] = await tx
      .update(tasks)
      .set({
        status: "running",
        leaseEpoch: sql`${tasks.leaseEpoch} + 1`,
        leaseExpiresAt: fromNow(policy.leaseTtlMs),
        leaseHolder: connectionId,
        attempt: sql`${tasks.attempt} + 1`,
        taskTokenHash: hash,
        offerExpiresAt: null,
        error: null,
        version: sql`${tasks.version} + 1`,
        updatedAt: sql`now()`,
      })
      .where(
        and(
          mine,
          eq(tasks.status, "offered"),
          sql`${tasks.offerExpiresAt} > now()`,
          isNull(tasks.cancelRequestedAt),
          robotIsAlive(robot.credentialId),
        ),
      )
      .returning();
    if (granted) {
      await tx.insert(taskAttempts).values({
        tenantId: robot.tenantId,
        taskId,
        attempt: granted.attempt,
        epoch: granted.leaseEpoch,
        holder: connectionId,
      });
      await announceStatus(tx, [granted]);
      return { ok: true, lease: leaseOf(granted, token), isNew: true };
    }
    const [again] = await tx
      .update(tasks)
      .set({ leaseHolder: connectionId, taskTokenHash: hash })
      .where(
        and(
          mine,
          eq(tasks.status, "running"),
          sql`${tasks.leaseExpiresAt} > now()`,
          robotIsAlive(robot.credentialId),
        ),
      )
      .returning();
    if (again) return { ok: true, lease: leaseOf(again, token), isNew: false };
    const [row] = await tx
      .select({ status: tasks.status, offerId: tasks.offerId })
      .from(tasks)
      .where(and(eq(tasks.id, taskId), eq(tasks.robotId, robot.robotId)));
    if (!row) return refuse("not_found", "no such task for this robot");
    return refuse("offer_expired", `the offer is no longer open; the task is ${row.status}`);
  });
}

export type HeartbeatLease = {
  taskId: string;
  epoch: number;
  expiresAt: string | null;
  cancelRequested: boolean;
};

/**
 * Extends every live lease in `leases` by the TTL (one statement, by the database clock).
 * Leases not extended are lost. Also reports the robot's config version, so a changed
 * central configuration reaches connected robots within one heartbeat.
 */
export async function extendLeases(
  db: Db,
  robot: RobotRef,
  leases: readonly LeaseRef[],
  leaseTtlMs: number,
): Promise<{ leases: HeartbeatLease[]; configVersion: number | null }> {
  return withTenantRetry(db, { tenantId: robot.tenantId }, async (tx) => {
    const extended = new Map<string, { expiresAt: Date; cancelRequested: boolean }>();
    if (leases.length > 0) {
      await lockTasksInOrder(
        tx,
        and(
          inArray(
            tasks.id,
            leases.map((lease) => lease.taskId),
          ),
          eq(tasks.robotId, robot.robotId),
          eq(tasks.status, "running"),
        ) as SQL,
      );
      const values = sql.join(
        leases.map((lease) => sql`(${lease.taskId}::uuid, ${lease.epoch}::bigint)`),
        sql`, `,
      );
      const result = await tx.execute<{
        id: string;
        lease_expires_at: Date;
        cancel_requested_at: Date | null;
      }>(sql`
        update tasks t set lease_expires_at = ${fromNow(leaseTtlMs)}
        from (values ${values}) as l(id, epoch)
        where t.id = l.id and t.lease_epoch = l.epoch and t.robot_id = ${robot.robotId}::uuid
          and t.status = 'running' and t.lease_expires_at > now()
          and exists (select 1 from robots r where r.id = t.robot_id and r.revoked_at is null)
          and not exists (select 1 from robot_credentials c where c.id = ${robot.credentialId}::uuid and c.revoked_at is not null)
        returning t.id, t.lease_expires_at, t.cancel_requested_at`);
      for (const row of result.rows) {
        extended.set(row.id, {
          expiresAt: new Date(row.lease_expires_at),
          cancelRequested: row.cancel_requested_at !== null,
        });
      }
    }
    const [config] = await tx
      .select({ version: robots.configVersion })
      .from(robots)
      .where(and(eq(robots.id, robot.robotId), isNull(robots.revokedAt)));
    return {
      configVersion: config?.version ?? null,
      leases: leases.map((lease) => {
        const live = extended.get(lease.taskId);
        return {
          taskId: lease.taskId,
          epoch: lease.epoch,
          expiresAt: live ? live.expiresAt.toISOString() : null,
          cancelRequested: live?.cancelRequested ?? false,
        };
      }),
    };
  });
}

/**
 * Takes back leases a robot says it holds after a reconnect: those still valid by the
 * database clock move to the new connection, with a fresh task token; the rest are lost.
 */
export async function resumeLeases(
  db: Db,
  robot: RobotRef,
  connectionId: string,
  leases: readonly LeaseRef[],
  policy: LeaseTtl,
): Promise<{ resumed: { lease: Lease; task: OfferedTask }[]; lost: LeaseRef[] }> {
  return withTenantRetry(db, { tenantId: robot.tenantId }, async (tx) => {
    const resumed: { lease: Lease; task: OfferedTask }[] = [];
    const lost: LeaseRef[] = [];
    // In id order, like every multi-row lock (see lockTasksInOrder).
    for (const ref of [...leases].sort((a, b) => a.taskId.localeCompare(b.taskId))) {
      const { token, hash } = mintTaskToken(robot.tenantId, ref.taskId);
      const [row] = await tx
        .update(tasks)
        .set({ leaseHolder: connectionId, taskTokenHash: hash, leaseExpiresAt: fromNow(policy.leaseTtlMs) })
        .where(fenced(robot, ref.taskId, ref.epoch))
        .returning();
      if (row)
        resumed.push({
          lease: leaseOf(row, token),
          task: await loadOfferedTask(tx, row, policy.historyLimit),
        });
      else lost.push(ref);
    }
    return { resumed, lost };
  });
}

/** Appends a progress entry under the lease; a repeated (task, epoch, seq) is a harmless duplicate. */
export async function recordProgress(
  db: Db,
  robot: RobotRef,
  frame: ProgressFrame,
): Promise<Written<{ duplicate: boolean }>> {
  return withTenantRetry(db, { tenantId: robot.tenantId }, async (tx) => {
    const [row] = await tx
      .update(tasks)
      .set({ progressSeq: sql`greatest(${tasks.progressSeq}, ${frame.seq})` })
      .where(fenced(robot, frame.taskId, frame.epoch))
      .returning({
        tenantId: tasks.tenantId,
        id: tasks.id,
        robotId: tasks.robotId,
        chatgroupId: tasks.chatgroupId,
      });
    if (!row) return diagnose(tx, robot, frame.taskId, frame.epoch);
    const inserted = await tx
      .insert(taskProgress)
      .values({
        tenantId: robot.tenantId,
        taskId: frame.taskId,
        epoch: frame.epoch,
        seq: frame.seq,
        kind: frame.kind,
        data: frame.data,
      })
      .onConflictDoNothing()
      .returning({ seq: taskProgress.seq });
    if (inserted.length === 0) return { ok: true, duplicate: true };
    await enqueueEvents(tx, [progressEvent(row, frame)]);
    return { ok: true, duplicate: false };
  });
}

/** Gives a lease back unfinished: queued again at once, and the attempt does not count. */
export async function releaseLease(
  db: Db,
  robot: RobotRef,
  frame: { taskId: string; epoch: number },
): Promise<Written<{ status: string }>> {
  return withTenantRetry(db, { tenantId: robot.tenantId }, async (tx) => {
    const isCancel = sql`${tasks.cancelRequestedAt} is not null`;
    const [row] = await tx
      .update(tasks)
      .set({
        status: sql`case when ${isCancel} then 'cancelled' else 'queued' end`,
        attempt: sql`case when ${isCancel} then ${tasks.attempt} else greatest(${tasks.attempt} - 1, 0) end`,
        finishedAt: sql`case when ${isCancel} then now() else null end`,
        notBefore: null,
        leaseHolder: null,
        taskTokenHash: null,
        offerId: null,
        version: sql`${tasks.version} + 1`,
        updatedAt: sql`now()`,
      })
      .where(fenced(robot, frame.taskId, frame.epoch))
      .returning();
    if (!row) return diagnose(tx, robot, frame.taskId, frame.epoch);
    await tx
      .update(taskAttempts)
      .set({ endedAt: sql`now()`, outcome: row.status === "cancelled" ? "cancelled" : "released" })
      .where(and(eq(taskAttempts.taskId, row.id), eq(taskAttempts.epoch, frame.epoch)));
    await announceStatus(tx, [row]);
    return { ok: true, status: row.status };
  });
}
