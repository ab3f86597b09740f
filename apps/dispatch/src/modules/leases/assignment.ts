import type { OfferedTask } from "@perseus/contracts";
import { type Db, schema, type Tx } from "@perseus/db";
import { and, asc, count, desc, eq, isNull, or, type SQL, sql } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import { withTenantRetry } from "../../lib/tx.js";
import { announceStatus, type TaskRow } from "../tasks/task-events.js";
import { loadOfferedTask } from "./context.js";
import { backoffFromNow, fromNow, holdsSlot, lockTasksInOrder } from "./sql.js";

const { tasks, taskAttempts, robots } = schema;

export type AssignmentPolicy = {
  offerTtlMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  rejectDelayMs: number;
  historyLimit: number;
};

/** The columns that return an offered task to the queue: no offer, no holder, a new version. */
function backToQueue() {
  return {
    status: "queued",
    offerId: null,
    offerExpiresAt: null,
    leaseHolder: null,
    version: sql`${tasks.version} + 1`,
    updatedAt: sql`now()`,
  } as const;
}

/** A connection of the robot on this replica, with the slots it declared in hello. */
export type SlotHolder = { connectionId: string; capacity: number };

export type Offer = { connectionId: string; offerId: string; expiresAt: string; task: OfferedTask };

/** Serialises assignment per robot across replicas (held to the end of the transaction). */
export async function lockRobot(tx: Tx, robotId: string) {
  await tx.execute(
    sql`select pg_advisory_xact_lock(hashtextextended(${`perseus.dispatch.robot:${robotId}`}, 0))`,
  );
}

/**
 * Ends the robot's expired offers (back to the queue, no attempt used) and expired leases
 * (retry after backoff, `dead` when attempts are used up, `cancelled` when a cancel was
 * pending). Conditional updates by the database clock, so running it twice changes nothing.
 */
/** What an expiry pass changed; the counts feed the lease metrics once the transaction commits. */
export type Expired = { changed: TaskRow[]; offers: number; leases: number };

export async function expireForRobot(tx: Tx, robotId: string, policy: AssignmentPolicy): Promise<Expired> {
  const expired = await lockTasksInOrder(
    tx,
    and(
      eq(tasks.robotId, robotId),
      or(
        and(eq(tasks.status, "offered"), sql`${tasks.offerExpiresAt} <= now()`),
        and(eq(tasks.status, "running"), sql`${tasks.leaseExpiresAt} <= now()`),
      ),
    ) as SQL,
  );
  if (expired.length === 0) return { changed: [], offers: 0, leases: 0 };
  const offers = await tx
    .update(tasks)
    .set(backToQueue())
    .where(
      and(eq(tasks.robotId, robotId), eq(tasks.status, "offered"), sql`${tasks.offerExpiresAt} <= now()`),
    )
    .returning();
  const isCancel = sql`${tasks.cancelRequestedAt} is not null`;
  const isExhausted = sql`${tasks.attempt} >= ${tasks.maxAttempts}`;
  const leases = await tx
    .update(tasks)
    .set({
      status: sql`case when ${isCancel} then 'cancelled' when ${isExhausted} then 'dead' else 'queued' end`,
      notBefore: sql`case when ${isCancel} or ${isExhausted} then ${tasks.notBefore} else ${backoffFromNow(policy.retryBaseMs, policy.retryMaxMs)} end`,
      finishedAt: sql`case when ${isCancel} or ${isExhausted} then now() else null end`,
      error: sql`case when ${isCancel} then 'cancelled; the robot did not confirm before its lease expired' else 'lease expired' end`,
      leaseHolder: null,
      taskTokenHash: null,
      offerId: null,
      version: sql`${tasks.version} + 1`,
      updatedAt: sql`now()`,
    })
    .where(
      and(eq(tasks.robotId, robotId), eq(tasks.status, "running"), sql`${tasks.leaseExpiresAt} <= now()`),
    )
    .returning();
  for (const row of leases) {
    await tx
      .update(taskAttempts)
      .set({ endedAt: sql`now()`, outcome: "lease_expired" })
      .where(
        and(
          eq(taskAttempts.taskId, row.id),
          eq(taskAttempts.epoch, row.leaseEpoch),
          isNull(taskAttempts.endedAt),
        ),
      );
  }
  const changed = [...offers, ...leases];
  await announceStatus(tx, changed);
  return { changed, offers: offers.length, leases: leases.length };
}

export type ClaimResult = { offers: Offer[]; changed: TaskRow[]; expired: Omit<Expired, "changed"> };

/**
 * Offers the robot's next queued tasks (priority, then age) to its connections on this
 * replica, within both limits: each connection's declared slots and the robot's
 * max_concurrency, counting everything offered or running on any replica.
 */
export async function claimOffers(
  db: Db,
  robot: { tenantId: string; robotId: string },
  holders: readonly SlotHolder[],
  policy: AssignmentPolicy,
): Promise<ClaimResult> {
  return withTenantRetry(db, { tenantId: robot.tenantId }, async (tx) => {
    await lockRobot(tx, robot.robotId);
    const { changed, ...expired } = await expireForRobot(tx, robot.robotId, policy);
    const [robotRow] = await tx
      .select({ maxConcurrency: robots.maxConcurrency })
      .from(robots)
      .where(and(eq(robots.id, robot.robotId), isNull(robots.revokedAt)));
    if (!robotRow || holders.length === 0) return { offers: [], changed, expired };

    const held = await tx
      .select({ holder: tasks.leaseHolder, n: count() })
      .from(tasks)
      .where(and(eq(tasks.robotId, robot.robotId), holdsSlot))
      .groupBy(tasks.leaseHolder);
    const heldBy = new Map(held.map((row) => [row.holder, Number(row.n)]));
    const total = held.reduce((sum, row) => sum + Number(row.n), 0);
    const free = holders
      .map((h) => ({ connectionId: h.connectionId, free: h.capacity - (heldBy.get(h.connectionId) ?? 0) }))
      .filter((h) => h.free > 0);
    const wanted = Math.min(
      robotRow.maxConcurrency - total,
      free.reduce((sum, h) => sum + h.free, 0),
    );
    if (wanted <= 0) return { offers: [], changed, expired };

    const candidates = await tx
      .select({ id: tasks.id })
      .from(tasks)
      .where(
        and(
          eq(tasks.robotId, robot.robotId),
          eq(tasks.status, "queued"),
          or(isNull(tasks.notBefore), sql`${tasks.notBefore} <= now()`),
        ),
      )
      .orderBy(desc(tasks.priority), asc(tasks.createdAt), asc(tasks.id))
      .limit(wanted)
      .for("update", { skipLocked: true });

    const offers: Offer[] = [];
    const offered: TaskRow[] = [];
    for (const candidate of candidates) {
      // The connection with the most free slots gets the next task, spreading the work.
      free.sort((a, b) => b.free - a.free);
      const target = free[0];
      if (!target || target.free <= 0) break;
      target.free--;
      const offerId = uuidv7();
      const [row] = await tx
        .update(tasks)
        .set({
          status: "offered",
          offerId,
          offerExpiresAt: fromNow(policy.offerTtlMs),
          leaseHolder: target.connectionId,
          version: sql`${tasks.version} + 1`,
          updatedAt: sql`now()`,
        })
        .where(and(eq(tasks.id, candidate.id), eq(tasks.status, "queued")))
        .returning();
      if (!row) continue;
      offered.push(row);
      offers.push({
        connectionId: target.connectionId,
        offerId,
        expiresAt: (row.offerExpiresAt ?? new Date()).toISOString(),
        task: await loadOfferedTask(tx, row, policy.historyLimit),
      });
    }
    await announceStatus(tx, offered);
    return { offers, changed: [...changed, ...offered], expired };
  });
}

/** Puts a connection's unanswered offers back in the queue (the connection closed). */
export async function releaseOffers(
  db: Db,
  robot: { tenantId: string; robotId: string },
  connectionId: string,
): Promise<TaskRow[]> {
  return withTenantRetry(db, { tenantId: robot.tenantId }, async (tx) => {
    const mine = and(
      eq(tasks.robotId, robot.robotId),
      eq(tasks.status, "offered"),
      eq(tasks.leaseHolder, connectionId),
    );
    if ((await lockTasksInOrder(tx, mine as SQL)).length === 0) return [];
    const rows = await tx
      .update(tasks)
      .set(backToQueue())
      .where(
        and(
          eq(tasks.robotId, robot.robotId),
          eq(tasks.status, "offered"),
          eq(tasks.leaseHolder, connectionId),
        ),
      )
      .returning();
    await announceStatus(tx, rows);
    return rows;
  });
}

/** The robot declined an offer: back to the queue, not offered again before the reject delay. */
export async function rejectOffer(
  db: Db,
  robot: { tenantId: string; robotId: string },
  taskId: string,
  offerId: string,
  reason: string,
  policy: Pick<AssignmentPolicy, "rejectDelayMs">,
): Promise<TaskRow | null> {
  return withTenantRetry(db, { tenantId: robot.tenantId }, async (tx) => {
    const [row] = await tx
      .update(tasks)
      .set({
        ...backToQueue(),
        notBefore: fromNow(policy.rejectDelayMs),
        error: `offer rejected: ${reason}`.slice(0, 1000),
      })
      .where(
        and(
          eq(tasks.id, taskId),
          eq(tasks.robotId, robot.robotId),
          eq(tasks.status, "offered"),
          eq(tasks.offerId, offerId),
        ),
      )
      .returning();
    if (row) await announceStatus(tx, [row]);
    return row ?? null;
  });
}
