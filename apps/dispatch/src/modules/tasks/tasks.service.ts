import type {
  CreateTaskBody,
  ListDeadLettersQuery,
  ListTasksQuery,
  Task,
  TaskDetail,
  TaskPage,
} from "@perseus/contracts";
import { access, type Db, schema, type Tx } from "@perseus/db";
import {
  type Actor,
  AppError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  PreconditionFailedError,
  PreconditionRequiredError,
} from "@perseus/kit";
import { and, eq, isNull, type SQL, sql } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import { inTenant } from "../../lib/tx.js";
import type { Waker } from "../scheduler/waker.js";
import { announceStatus, auditRow, type TaskRow } from "./task-events.js";
import { etagOf, findTask, listTasks, loadTaskDetail, toTask, visibleToUser } from "./tasks.repo.js";

const { tasks, robots, robotScopes, auditEvents } = schema;

/** Who is calling and from where: every service call carries it. */
export type TaskContext = { tenantId: string; actor: Actor; requestId?: string; ip?: string };

export type TasksServiceDeps = { db: Db; waker: Waker; maxAttempts: number };

type UserActor = Extract<Actor, { type: "user" }>;

function requireUser(actor: Actor): UserActor {
  if (actor.type !== "user") throw new ForbiddenError("only people may do this");
  return actor;
}

/** Strong comparison of If-Match against the task's ETag; `*` matches any existing task. */
function matchesEtag(ifMatch: string, row: TaskRow): boolean {
  const tags = ifMatch.split(",").map((tag) => tag.trim());
  return tags.includes("*") || tags.includes(etagOf(row));
}

function checkPrecondition(ifMatch: string | undefined, row: TaskRow, isRequired: boolean) {
  if (ifMatch === undefined) {
    if (isRequired) throw new PreconditionRequiredError();
    return;
  }
  if (!matchesEtag(ifMatch, row)) throw new PreconditionFailedError();
}

export function createTasksService(deps: TasksServiceDeps) {
  const { db, waker } = deps;

  /** What the actor may see: owners/admins everything, users their own and their chatgroups', robots theirs. */
  async function visibility(tx: Tx, actor: Actor): Promise<SQL | undefined> {
    if (actor.type === "robot") return eq(tasks.robotId, actor.robotId);
    if (actor.type === "api_key") return sql`false`;
    const role = await access.getTenantRole(tx, actor.userId);
    if (!role) return sql`false`;
    if (role === "owner" || role === "admin") return undefined;
    return visibleToUser(actor.userId, await access.listReadableChatgroupIds(tx, actor.userId));
  }

  async function requireManager(tx: Tx, actor: UserActor) {
    const role = await access.getTenantRole(tx, actor.userId);
    if (role !== "owner" && role !== "admin") throw new ForbiddenError("only owners and admins may do this");
  }

  async function findVisible(tx: Tx, ctx: TaskContext, id: string, forUpdate = false): Promise<TaskRow> {
    const row = await findTask(tx, id, await visibility(tx, ctx.actor), forUpdate);
    if (!row) throw new NotFoundError("task");
    return row;
  }

  async function resolveRobot(tx: Tx, body: CreateTaskBody) {
    const [robot] = await tx
      .select({ id: robots.id, handle: robots.handle })
      .from(robots)
      .where(
        and(
          body.robotId ? eq(robots.id, body.robotId) : eq(robots.handle, body.robotHandle ?? ""),
          isNull(robots.revokedAt),
        ),
      );
    if (!robot) throw new NotFoundError("robot");
    return robot;
  }

  return {
    async create(ctx: TaskContext, body: CreateTaskBody): Promise<Task> {
      const user = requireUser(ctx.actor);
      const row = await inTenant(db, { tenantId: ctx.tenantId }, async (tx) => {
        const robot = await resolveRobot(tx, body);
        if (body.chatgroupId) {
          const chatgroup = await access.findReadableChatgroup(tx, user.userId, body.chatgroupId);
          if (!chatgroup) throw new NotFoundError("chatgroup");
          if (chatgroup.isArchived) throw new ConflictError("the chatgroup is archived");
          if (!(await access.isRobotInvocable(tx, robot.id, chatgroup)))
            throw new ForbiddenError(`@${robot.handle} may not be invoked in this chatgroup`);
        } else {
          // Without a chatgroup the robot works with no chat context: tenant-wide robots, or managers.
          const role = await access.getTenantRole(tx, user.userId);
          const [tenantScope] = await tx
            .select({ robotId: robotScopes.robotId })
            .from(robotScopes)
            .where(and(eq(robotScopes.robotId, robot.id), eq(robotScopes.scopeType, "tenant")));
          if (!role || (!tenantScope && role === "user"))
            throw new ForbiddenError(`@${robot.handle} may only be invoked in a chatgroup it is scoped to`);
        }
        const [created] = await tx
          .insert(tasks)
          .values({
            tenantId: ctx.tenantId,
            id: uuidv7(),
            robotId: robot.id,
            chatgroupId: body.chatgroupId ?? null,
            requestedBy: user.userId,
            prompt: body.prompt,
            priority: body.priority,
            maxAttempts: deps.maxAttempts,
          })
          .returning();
        if (!created) throw new Error("insert returned no row");
        await tx.insert(auditEvents).values(
          auditRow(created, { userId: user.userId, ip: ctx.ip, requestId: ctx.requestId }, "task.create", {
            robotId: robot.id,
            chatgroupId: created.chatgroupId,
            priority: created.priority,
          }),
        );
        await announceStatus(tx, [created]);
        return created;
      });
      waker.robot(row.tenantId, row.robotId);
      return toTask(row);
    },

    async list(ctx: TaskContext, query: ListTasksQuery): Promise<TaskPage> {
      return inTenant(db, { tenantId: ctx.tenantId }, async (tx) => {
        const page = await listTasks(tx, query, await visibility(tx, ctx.actor), query);
        if (!page) throw new AppError("bad_request", "invalid cursor");
        return { items: page.rows.map(toTask), nextCursor: page.nextCursor };
      });
    },

    async get(ctx: TaskContext, id: string): Promise<{ task: TaskDetail; etag: string }> {
      return inTenant(db, { tenantId: ctx.tenantId }, async (tx) => {
        const row = await findVisible(tx, ctx, id);
        return { task: await loadTaskDetail(tx, row), etag: etagOf(row) };
      });
    },

    /**
     * Cancels a task. Queued or offered: cancelled at once. Running: the cancel is recorded and
     * sent to the robot; the task ends `cancelled` when the robot confirms or its lease lapses.
     */
    async cancel(ctx: TaskContext, id: string, ifMatch: string | undefined, reason?: string) {
      const user = requireUser(ctx.actor);
      const row = await inTenant(db, { tenantId: ctx.tenantId }, async (tx) => {
        const current = await findVisible(tx, ctx, id, true);
        if (current.requestedBy !== user.userId) await requireManager(tx, user);
        checkPrecondition(ifMatch, current, true);
        if (!["queued", "offered", "running"].includes(current.status))
          throw new ConflictError(`the task is already ${current.status}`);
        if (current.cancelRequestedAt) return current;
        const isRunning = current.status === "running";
        const [updated] = await tx
          .update(tasks)
          .set({
            cancelRequestedAt: sql`now()`,
            ...(isRunning
              ? {}
              : {
                  status: "cancelled",
                  finishedAt: sql`now()`,
                  error: reason ? `cancelled: ${reason}` : "cancelled",
                  offerId: null,
                  leaseHolder: null,
                }),
            version: sql`${tasks.version} + 1`,
            updatedAt: sql`now()`,
          })
          .where(eq(tasks.id, id))
          .returning();
        if (!updated) throw new NotFoundError("task");
        await tx.insert(auditEvents).values(
          auditRow(updated, { userId: user.userId, ip: ctx.ip, requestId: ctx.requestId }, "task.cancel", {
            from: current.status,
            reason: reason ?? null,
          }),
        );
        if (!isRunning) await announceStatus(tx, [updated]);
        return updated;
      });
      if (row.status === "running") waker.cancel(row.tenantId, row.robotId, row.id);
      return { task: toTask(row), etag: etagOf(row) };
    },

    async listDeadLetters(ctx: TaskContext, query: ListDeadLettersQuery): Promise<TaskPage> {
      return inTenant(db, { tenantId: ctx.tenantId }, async (tx) => {
        const page = await listTasks(
          tx,
          { robotId: query.robotId, deadLetters: true },
          await visibility(tx, ctx.actor),
          query,
        );
        if (!page) throw new AppError("bad_request", "invalid cursor");
        return { items: page.rows.map(toTask), nextCursor: page.nextCursor };
      });
    },

    /** Queues a dead or failed task again with a fresh set of attempts. */
    async retry(ctx: TaskContext, id: string, ifMatch: string | undefined) {
      const user = requireUser(ctx.actor);
      const row = await inTenant(db, { tenantId: ctx.tenantId }, async (tx) => {
        const current = await findVisible(tx, ctx, id, true);
        await requireManager(tx, user);
        checkPrecondition(ifMatch, current, false);
        if (current.status !== "dead" && current.status !== "failed")
          throw new ConflictError(`only dead or failed tasks can be retried; this one is ${current.status}`);
        const [updated] = await tx
          .update(tasks)
          .set({
            status: "queued",
            attempt: 0,
            notBefore: null,
            finishedAt: null,
            discardedAt: null,
            cancelRequestedAt: null,
            error: null,
            leaseHolder: null,
            offerId: null,
            version: sql`${tasks.version} + 1`,
            updatedAt: sql`now()`,
          })
          .where(eq(tasks.id, id))
          .returning();
        if (!updated) throw new NotFoundError("task");
        await tx.insert(auditEvents).values(
          auditRow(updated, { userId: user.userId, ip: ctx.ip, requestId: ctx.requestId }, "task.retry", {
            from: current.status,
          }),
        );
        await announceStatus(tx, [updated]);
        return updated;
      });
      waker.robot(row.tenantId, row.robotId);
      return { task: toTask(row), etag: etagOf(row) };
    },

    /** Takes a dead letter off the list; the task stays `dead` for the record. */
    async discard(ctx: TaskContext, id: string, ifMatch: string | undefined) {
      const user = requireUser(ctx.actor);
      const row = await inTenant(db, { tenantId: ctx.tenantId }, async (tx) => {
        const current = await findVisible(tx, ctx, id, true);
        await requireManager(tx, user);
        checkPrecondition(ifMatch, current, false);
        if (current.status !== "dead")
          throw new ConflictError(`only dead letters can be discarded; this task is ${current.status}`);
        if (current.discardedAt) return current;
        const [updated] = await tx
          .update(tasks)
          .set({ discardedAt: sql`now()`, version: sql`${tasks.version} + 1`, updatedAt: sql`now()` })
          .where(eq(tasks.id, id))
          .returning();
        if (!updated) throw new NotFoundError("task");
        await tx
          .insert(auditEvents)
          .values(
            auditRow(updated, { userId: user.userId, ip: ctx.ip, requestId: ctx.requestId }, "task.discard"),
          );
        return updated;
      });
      return { task: toTask(row), etag: etagOf(row) };
    },
  };
}
export type TasksService = ReturnType<typeof createTasksService>;
