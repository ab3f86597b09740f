import {
  type Approval,
  type ApprovalPage,
  type ApprovalRequestFrame,
  type DecideApprovalBody,
  decodeCursor,
  encodeCursor,
  type LeaseRef,
  type ListApprovalsQuery,
  type RobotServerFrame,
} from "@perseus/contracts";
import { access, type Db, schema, type Tx } from "@perseus/db";
import { type Actor, ConflictError, ForbiddenError, NotFoundError } from "@perseus/kit";
import { and, desc, eq, inArray, lt, or, type SQL, sql } from "drizzle-orm";
import { z } from "zod";
import { inTenant, withTenantRetry } from "../../lib/tx.js";
import { errorFrame } from "../gateway/frames.js";
import { diagnose, type RobotRef } from "../leases/lease-store.js";
import { fenced } from "../leases/sql.js";
import type { Waker } from "../scheduler/waker.js";
import {
  type ApprovalRow,
  announceDecided,
  announceRequested,
  auditApproval,
  bindingHashOf,
  decidedFrame,
  expireDue,
  toApproval,
} from "./approvals.repo.js";

const { approvals, tasks } = schema;

export type ApprovalContext = { tenantId: string; actor: Actor; requestId?: string; ip?: string };

export type ApprovalsDeps = { db: Db; waker: Waker };

const PageCursor = z.object({ at: z.string(), id: z.uuid() });

/** Decisions are people's: an owner or admin of the tenant, never a robot, task token or API key. */
async function requireManager(tx: Tx, actor: Actor): Promise<string> {
  if (actor.type !== "user") throw new ForbiddenError("only owners and admins may decide approvals");
  const role = await access.getTenantRole(tx, actor.userId);
  if (role !== "owner" && role !== "admin")
    throw new ForbiddenError("only owners and admins may decide approvals");
  return actor.userId;
}

/**
 * Dangerous-command approvals: a robot asks under its live lease, an owner or admin
 * decides once, silence past the expiry is a denial. Every step is audited, announced to
 * the chat (outbox events) and the decision is pushed to the robot's connection.
 */
export function createApprovalsService(deps: ApprovalsDeps) {
  const { db, waker } = deps;
  const timers = new Set<NodeJS.Timeout>();

  /** Tells the robot (wherever its connection is) about decided rows. */
  const push = (rows: readonly ApprovalRow[]) => {
    for (const row of rows) waker.approval(row.tenantId, row.robotId, decidedFrame(row));
  };

  /** Expires one request at its deadline on this replica; the lazy checks cover a replica that died. */
  const scheduleExpiry = (tenantId: string, id: string, atMs: number) => {
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        inTenant(db, { tenantId }, (tx) => expireDue(tx, eq(approvals.id, id)))
          .then(push)
          .catch(() => {});
      },
      Math.max(0, atMs - Date.now()) + 50,
    );
    timer.unref();
    timers.add(timer);
  };

  return {
    /** An `approval.request` frame from a robot connection: stored only under the robot's current lease. */
    async request(robot: RobotRef, frame: ApprovalRequestFrame): Promise<RobotServerFrame[]> {
      const expected = bindingHashOf(frame);
      if (expected !== frame.bindingHash)
        return [errorFrame(frame.id, "invalid_frame", "bindingHash does not match command, cwd and envHash")];
      const outcome = await withTenantRetry(db, { tenantId: robot.tenantId }, async (tx) => {
        const [task] = await tx
          .select({ chatgroupId: tasks.chatgroupId })
          .from(tasks)
          .where(fenced(robot, frame.taskId, frame.epoch));
        if (!task)
          return { kind: "refused", error: await diagnose(tx, robot, frame.taskId, frame.epoch) } as const;
        // A resend: answered from the row (expired first if its time is up), never stored twice.
        await expireDue(tx, eq(approvals.id, frame.requestId));
        const [existing] = await tx.select().from(approvals).where(eq(approvals.id, frame.requestId));
        if (existing) {
          const isSame =
            existing.taskId === frame.taskId &&
            existing.robotId === robot.robotId &&
            existing.bindingHash === frame.bindingHash;
          return isSame
            ? ({ kind: "stored", row: existing, isNew: false } as const)
            : ({ kind: "conflict" } as const);
        }
        const [row] = await tx
          .insert(approvals)
          .values({
            tenantId: robot.tenantId,
            id: frame.requestId,
            taskId: frame.taskId,
            robotId: robot.robotId,
            chatgroupId: task.chatgroupId,
            epoch: frame.epoch,
            command: frame.command,
            cwd: frame.cwd,
            envHash: frame.envHash,
            bindingHash: frame.bindingHash,
            reason: frame.reason,
            requestedBy: robot.credentialId,
            expiresAt: sql`(now() + ${frame.expiresInMs}::float8 * interval '1 millisecond')`,
          })
          .returning();
        if (!row) throw new Error("insert returned no row");
        await auditApproval(tx, row, { type: "robot", id: robot.robotId }, "approval.request", {
          command: row.command,
          cwd: row.cwd,
          envHash: row.envHash,
          reason: row.reason,
          epoch: row.epoch,
        });
        await announceRequested(tx, row);
        return { kind: "stored", row, isNew: true } as const;
      });
      if (outcome.kind === "refused")
        return [errorFrame(frame.id, outcome.error.code, outcome.error.message)];
      if (outcome.kind === "conflict")
        return [errorFrame(frame.id, "conflict", "this request id was used for another request")];
      const { row, isNew } = outcome;
      if (isNew) scheduleExpiry(row.tenantId, row.id, row.expiresAt.getTime());
      const ack: RobotServerFrame = { type: "ack", ref: frame.id, result: { status: row.status } };
      // A resent request that was decided meanwhile gets its decision again.
      return row.status === "pending" ? [ack] : [ack, decidedFrame(row)];
    },

    /** Decisions of resumed leases, sent again after a reconnect (the robot ignores those it used). */
    async decisionsFor(robot: RobotRef, leases: readonly LeaseRef[]): Promise<RobotServerFrame[]> {
      if (leases.length === 0) return [];
      const rows = await inTenant(db, { tenantId: robot.tenantId }, async (tx) => {
        const mine = and(
          eq(approvals.robotId, robot.robotId),
          inArray(
            approvals.taskId,
            leases.map((lease) => lease.taskId),
          ),
        );
        await expireDue(tx, mine);
        return tx
          .select()
          .from(approvals)
          .where(and(mine, sql`${approvals.status} <> 'pending'`));
      });
      return rows
        .filter((row) => leases.some((l) => l.taskId === row.taskId && l.epoch === row.epoch))
        .map(decidedFrame);
    },

    async list(ctx: ApprovalContext, query: ListApprovalsQuery): Promise<ApprovalPage> {
      const { rows, expired } = await inTenant(db, { tenantId: ctx.tenantId }, async (tx) => {
        await requireManager(tx, ctx.actor);
        const expired = await expireDue(tx);
        const cursor = query.cursor ? decodeCursor(query.cursor, PageCursor) : null;
        const filters: (SQL | undefined)[] = [
          query.status ? eq(approvals.status, query.status) : undefined,
          query.taskId ? eq(approvals.taskId, query.taskId) : undefined,
          cursor
            ? or(
                lt(approvals.requestedAt, new Date(cursor.at)),
                and(eq(approvals.requestedAt, new Date(cursor.at)), lt(approvals.id, cursor.id)),
              )
            : undefined,
        ];
        const rows = await tx
          .select()
          .from(approvals)
          .where(and(...filters))
          .orderBy(desc(approvals.requestedAt), desc(approvals.id))
          .limit(query.limit + 1);
        return { rows, expired };
      });
      push(expired);
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return {
        items: page.map(toApproval),
        nextCursor:
          rows.length > query.limit && last
            ? encodeCursor({ at: last.requestedAt.toISOString(), id: last.id })
            : null,
      };
    },

    /** One decision per request: a second one, or one after the expiry, is a conflict (and audited). */
    async decide(ctx: ApprovalContext, id: string, body: DecideApprovalBody): Promise<Approval> {
      const actor = ctx.actor;
      const who = { ip: ctx.ip, requestId: ctx.requestId };
      const outcome = await inTenant(db, { tenantId: ctx.tenantId }, async (tx) => {
        const [found] = await tx.select().from(approvals).where(eq(approvals.id, id)).for("update");
        if (!found) throw new NotFoundError("approval");
        let userId: string;
        try {
          userId = await requireManager(tx, actor);
        } catch (error) {
          const actorRef = actor.type === "user" ? { type: "user" as const, id: actor.userId, ...who } : null;
          if (actorRef) await auditApproval(tx, found, actorRef, "approval.decide_refused", { why: "role" });
          return { refused: error as Error, rows: [] as ApprovalRow[] };
        }
        const expired = await expireDue(tx, eq(approvals.id, id));
        const current = expired[0] ?? found;
        if (current.status !== "pending") {
          await auditApproval(tx, current, { type: "user", id: userId, ...who }, "approval.decide_refused", {
            why: current.status === "expired" ? "expired" : "already decided",
            status: current.status,
            decision: body.decision,
          });
          const message =
            current.status === "expired"
              ? "the request expired before a decision"
              : `the request was already ${current.status}`;
          return { refused: new ConflictError(message), rows: expired };
        }
        const [row] = await tx
          .update(approvals)
          .set({ status: body.decision, decidedBy: userId, decidedAt: sql`now()` })
          .where(and(eq(approvals.id, id), eq(approvals.status, "pending")))
          .returning();
        if (!row) throw new ConflictError("the request changed concurrently");
        await auditApproval(tx, row, { type: "user", id: userId, ...who }, `approval.${body.decision}`, {
          command: row.command,
          cwd: row.cwd,
        });
        await announceDecided(tx, row);
        return { row, rows: [row] };
      });
      push(outcome.rows);
      if ("refused" in outcome) throw outcome.refused;
      return toApproval(outcome.row);
    },

    stop() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
export type ApprovalsService = ReturnType<typeof createApprovalsService>;
