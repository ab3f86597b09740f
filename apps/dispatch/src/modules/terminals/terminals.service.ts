import {
  decodeCursor,
  encodeCursor,
  type ListTerminalsQuery,
  type OpenTerminalBody,
  type TerminalPage,
  type TerminalSession,
  type TerminalSettings,
  type TerminalTicketBody,
  type TerminalTicketResponse,
} from "@perseus/contracts";
import { access, type Db, schema, type Tx } from "@perseus/db";
import { type Actor, AppError, ConflictError, ForbiddenError, NotFoundError } from "@perseus/kit";
import { and, desc, eq, lt, ne, or, type SQL, sql } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import { z } from "zod";
import { appendAudit } from "../../lib/audit.js";
import { inTenant } from "../../lib/tx.js";
import type { Presence } from "../gateway/presence.js";
import type { Waker } from "../scheduler/waker.js";
import type { TerminalRelay } from "./relay.js";
import { auditTerminal, findTerminal, type TerminalActor, toTerminalSession } from "./terminals.repo.js";
import type { TerminalTickets } from "./tickets.js";

const { terminalSessions, terminalSettings, robots, tasks } = schema;

export type TerminalContext = { tenantId: string; actor: Actor; requestId?: string; ip?: string };

const PageCursor = z.object({ at: z.string(), id: z.uuid() });

/** Terminals are for people who run the tenant: owners and admins, never robots or API keys. */
async function requireManager(tx: Tx, actor: Actor): Promise<string> {
  if (actor.type !== "user") throw new ForbiddenError("only owners and admins may use terminals");
  const role = await access.getTenantRole(tx, actor.userId);
  if (role !== "owner" && role !== "admin")
    throw new ForbiddenError("only owners and admins may use terminals");
  return actor.userId;
}

const auditActor = (ctx: TerminalContext, userId: string): TerminalActor => ({
  type: "user",
  id: userId,
  ip: ctx.ip,
  requestId: ctx.requestId,
});

/** The REST side of live terminals: open, list, read, close, attach tickets and the tenant's settings. */
export function createTerminalsService(deps: {
  db: Db;
  presence: Presence;
  waker: Waker;
  relay: TerminalRelay;
  tickets: TerminalTickets;
  prefix: string;
}) {
  const { db, presence, waker, relay, tickets } = deps;

  async function readSettings(tx: Tx): Promise<TerminalSettings> {
    const [row] = await tx.select().from(terminalSettings);
    return { recordTranscripts: row?.recordTranscripts ?? false };
  }

  return {
    async open(ctx: TerminalContext, body: OpenTerminalBody): Promise<TerminalSession> {
      // Presence first (Redis), then one transaction: checks, the row and its audit event.
      const connections = await presence.connectionsOf(ctx.tenantId, body.robotId);
      const row = await inTenant(db, { tenantId: ctx.tenantId }, async (tx) => {
        const userId = await requireManager(tx, ctx.actor);
        const [robot] = await tx.select().from(robots).where(eq(robots.id, body.robotId));
        if (!robot || robot.revokedAt) throw new NotFoundError("robot");
        if (body.chatgroupId && !(await access.findReadableChatgroup(tx, userId, body.chatgroupId)))
          throw new NotFoundError("chatgroup");
        if (body.taskId) {
          const [task] = await tx
            .select({ robotId: tasks.robotId })
            .from(tasks)
            .where(eq(tasks.id, body.taskId));
          if (!task || task.robotId !== body.robotId) throw new NotFoundError("task");
        }
        if (!robot.capabilities.includes("terminal"))
          throw new AppError("terminal_unsupported", "this robot does not have the terminal capability");
        if (connections.length === 0) throw new AppError("robot_offline", "the robot is not connected");
        const capable = connections.filter((entry) => entry.terminal === true);
        const host = capable.at(-1);
        if (!host)
          throw new AppError(
            "terminal_unsupported",
            "the nanobot connected for this robot does not offer terminals (enable them in its config)",
          );
        const settings = await readSettings(tx);
        const [inserted] = await tx
          .insert(terminalSessions)
          .values({
            tenantId: ctx.tenantId,
            id: uuidv7(),
            robotId: body.robotId,
            openedBy: userId,
            chatgroupId: body.chatgroupId ?? null,
            taskId: body.taskId ?? null,
            cols: body.cols,
            rows: body.rows,
            recording: settings.recordTranscripts && body.chatgroupId !== undefined,
            connectionId: host.connectionId,
          })
          .returning();
        if (!inserted) throw new Error("insert returned no row");
        await auditTerminal(tx, inserted, auditActor(ctx, userId), "terminal.open", {
          connectionId: host.connectionId,
          cols: body.cols,
          rows: body.rows,
        });
        return inserted;
      });
      waker.terminal({
        t: row.tenantId,
        r: row.robotId,
        s: row.id,
        conn: row.connectionId ?? "",
        cols: row.cols,
        rows: row.rows,
        rec: row.recording,
      });
      relay.armOpenTimeout(row.tenantId, row.id);
      return toTerminalSession(row);
    },

    async list(ctx: TerminalContext, query: ListTerminalsQuery): Promise<TerminalPage> {
      const rows = await inTenant(db, { tenantId: ctx.tenantId }, async (tx) => {
        await requireManager(tx, ctx.actor);
        const cursor = query.cursor ? decodeCursor(query.cursor, PageCursor) : null;
        const filters: (SQL | undefined)[] = [
          query.robotId ? eq(terminalSessions.robotId, query.robotId) : undefined,
          query.status === "closed"
            ? eq(terminalSessions.status, "closed")
            : query.status === "open"
              ? ne(terminalSessions.status, "closed")
              : undefined,
          cursor
            ? or(
                lt(terminalSessions.openedAt, new Date(cursor.at)),
                and(eq(terminalSessions.openedAt, new Date(cursor.at)), lt(terminalSessions.id, cursor.id)),
              )
            : undefined,
        ];
        return tx
          .select()
          .from(terminalSessions)
          .where(and(...filters))
          .orderBy(desc(terminalSessions.openedAt), desc(terminalSessions.id))
          .limit(query.limit + 1);
      });
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return {
        items: page.map(toTerminalSession),
        nextCursor:
          rows.length > query.limit && last
            ? encodeCursor({ at: last.openedAt.toISOString(), id: last.id })
            : null,
      };
    },

    async get(ctx: TerminalContext, id: string): Promise<TerminalSession> {
      const row = await inTenant(db, { tenantId: ctx.tenantId }, async (tx) => {
        await requireManager(tx, ctx.actor);
        return findTerminal(tx, id);
      });
      if (!row) throw new NotFoundError("terminal session");
      return toTerminalSession(row);
    },

    /** Idempotent: closing a closed session answers it as it is. The opener may always close it. */
    async close(ctx: TerminalContext, id: string): Promise<TerminalSession> {
      const { row, userId } = await inTenant(db, { tenantId: ctx.tenantId }, async (tx) => {
        if (ctx.actor.type !== "user") throw new ForbiddenError("only people close terminals");
        const row = await findTerminal(tx, id);
        const role = await access.getTenantRole(tx, ctx.actor.userId);
        if (!role) throw new NotFoundError("terminal session");
        if (!row) {
          if (role !== "owner" && role !== "admin")
            throw new ForbiddenError("only owners and admins may use terminals");
          throw new NotFoundError("terminal session");
        }
        if (row.openedBy !== ctx.actor.userId && role !== "owner" && role !== "admin")
          throw new ForbiddenError("only the opener, an owner or an admin may close a terminal");
        return { row, userId: ctx.actor.userId };
      });
      if (row.status === "closed") return toTerminalSession(row);
      const closed = await relay.closeSession(
        ctx.tenantId,
        id,
        { reason: "closed", closedBy: userId },
        auditActor(ctx, userId),
      );
      if (closed) return toTerminalSession(closed);
      const current = await inTenant(db, { tenantId: ctx.tenantId }, (tx) => findTerminal(tx, id));
      if (!current) throw new NotFoundError("terminal session");
      return toTerminalSession(current);
    },

    /** Write is granted to the opener only; everyone else (and anyone asking for read) gets read. */
    async ticket(
      ctx: TerminalContext,
      id: string,
      body: TerminalTicketBody,
    ): Promise<TerminalTicketResponse> {
      const { row, userId } = await inTenant(db, { tenantId: ctx.tenantId }, async (tx) => {
        const userId = await requireManager(tx, ctx.actor);
        return { row: await findTerminal(tx, id), userId };
      });
      if (!row) throw new NotFoundError("terminal session");
      if (row.status === "closed") throw new ConflictError("the terminal session has ended");
      const mode = body.mode === "write" && row.openedBy === userId ? "write" : "read";
      const { ticket, expiresAt } = await tickets.issue({
        tenantId: ctx.tenantId,
        userId,
        sessionId: id,
        writer: mode === "write",
      });
      return {
        ticket,
        expiresAt: expiresAt.toISOString(),
        url: `${deps.prefix}/terminals/${id}/attach`,
        mode,
      };
    },

    async settings(ctx: TerminalContext): Promise<TerminalSettings> {
      return inTenant(db, { tenantId: ctx.tenantId }, async (tx) => {
        await requireManager(tx, ctx.actor);
        return readSettings(tx);
      });
    },

    async updateSettings(ctx: TerminalContext, body: TerminalSettings): Promise<TerminalSettings> {
      return inTenant(db, { tenantId: ctx.tenantId }, async (tx) => {
        const userId = await requireManager(tx, ctx.actor);
        const [before] = await tx.select().from(terminalSettings);
        await tx
          .insert(terminalSettings)
          .values({ tenantId: ctx.tenantId, recordTranscripts: body.recordTranscripts, updatedBy: userId })
          .onConflictDoUpdate({
            target: terminalSettings.tenantId,
            set: { recordTranscripts: body.recordTranscripts, updatedBy: userId, updatedAt: sql`now()` },
          });
        await appendAudit(tx, {
          tenantId: ctx.tenantId,
          actor: auditActor(ctx, userId),
          action: "terminal.settings.update",
          targetType: "tenant",
          targetId: ctx.tenantId,
          data: { before: { recordTranscripts: before?.recordTranscripts ?? false }, after: body },
        });
        return readSettings(tx);
      });
    },

    /** Checks, at attach time, that the ticket's holder still runs the tenant. */
    async mayAttach(tenantId: string, userId: string, id: string): Promise<boolean> {
      return inTenant(db, { tenantId }, async (tx) => {
        const role = await access.getTenantRole(tx, userId);
        if (role !== "owner" && role !== "admin") return false;
        return (await findTerminal(tx, id)) !== null;
      });
    },
  };
}
export type TerminalsService = ReturnType<typeof createTerminalsService>;
