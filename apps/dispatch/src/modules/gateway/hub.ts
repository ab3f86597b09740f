import { type ApprovalDecidedFrame, type OfferedTask, RobotCloseCode } from "@perseus/contracts";
import type { Db } from "@perseus/db";
import { SpanKind, spanCarrier, startSpan } from "@perseus/tracing";
import type { FastifyBaseLogger } from "fastify";
import type { LeaseMetrics } from "../../metrics.js";
import { type AssignmentPolicy, claimOffers, releaseOffers } from "../leases/assignment.js";
import type { RobotRef } from "../leases/lease-store.js";
import {
  scheduleRetries,
  type TerminalOpenMessage,
  type WakeMessage,
  type Waker,
} from "../scheduler/waker.js";
import type { TaskTraces } from "../tasks/task-traces.js";
import type { Presence } from "./presence.js";
import type { RobotSession, SessionHub } from "./session.js";

export type HubOptions = {
  db: Db;
  instanceId: string;
  waker: Waker;
  presence: Presence | null;
  assignment: AssignmentPolicy;
  maxConnectionsPerRobot: number;
  log: FastifyBaseLogger;
  metrics?: LeaseMetrics;
  /** With tracing on: the trace each offered task continues. */
  traces?: TaskTraces;
};

const robotKey = (robot: { tenantId: string; robotId: string }) => `${robot.tenantId}|${robot.robotId}`;

/**
 * The robot connections of this replica. It decides nothing about tasks on its own: it
 * asks Postgres for the next offers when something changed (a wake, a freed slot, a new
 * connection, the local poll) and routes offers and cancels to the right connection.
 */
export function createHub(options: HubOptions) {
  const { db, log } = options;
  const sessions = new Map<string, RobotSession>();
  // Every open connection, including those still waiting for hello (closed on shutdown too).
  const tracked = new Set<RobotSession>();
  const byRobot = new Map<string, Set<RobotSession>>();
  // One claim per robot at a time on this replica; a request arriving meanwhile runs it once more.
  const claiming = new Map<string, { again: boolean }>();
  let isClosing = false;

  const presenceOf = (session: RobotSession) => ({
    robotId: session.robot.robotId,
    connectionId: session.id,
    instanceId: options.instanceId,
    openedAt: session.openedAt,
    seenAt: Date.now(),
    capacity: session.capacity,
    active: session.leases.size,
    terminal: session.capabilities.has("terminal"),
  });

  async function enforceConnectionLimit(session: RobotSession) {
    const local = [...(byRobot.get(robotKey(session.robot)) ?? [])].sort((a, b) => a.openedAt - b.openedAt);
    const remote = options.presence
      ? (await options.presence.connectionsOf(session.robot.tenantId, session.robot.robotId)).filter(
          (entry) => !sessions.has(entry.connectionId),
        )
      : [];
    const all = [
      ...local.map((s) => ({ id: s.id, openedAt: s.openedAt, local: s as RobotSession | undefined })),
      ...remote.map((entry) => ({ id: entry.connectionId, openedAt: entry.openedAt, local: undefined })),
    ].sort((a, b) => a.openedAt - b.openedAt);
    const excess = all.length - options.maxConnectionsPerRobot;
    for (const victim of all.slice(0, Math.max(0, excess))) {
      if (victim.id === session.id) continue;
      if (victim.local)
        victim.local.close(RobotCloseCode.replaced, "replaced by a newer connection of this robot");
      else options.waker.replace(victim.id);
    }
  }

  async function claim(robot: RobotRef) {
    const robotSessions = [...(byRobot.get(robotKey(robot)) ?? [])];
    const holders = robotSessions
      .filter((s) => s.state === "ready" && s.isResponsive && s.freeSlots > 0)
      .map((s) => ({ connectionId: s.id, capacity: s.capacity }));
    if (holders.length === 0 || isClosing) return;
    const { offers, changed, expired } = await claimOffers(db, robot, holders, options.assignment);
    options.metrics?.expired(expired);
    scheduleRetries(options.waker, changed);
    const traces = await recallTraces(robot, offers);
    for (const offer of offers) {
      const session = sessions.get(offer.connectionId);
      if (session?.state !== "ready") {
        // Closed while we were claiming: hand the offer back at once rather than at expiry.
        await releaseOffers(db, robot, offer.connectionId).catch(() => {});
        continue;
      }
      session.offers.set(offer.offerId, { taskId: offer.task.id, expiresAt: Date.parse(offer.expiresAt) });
      const task = tracedTask(offer.task, offer.offerId, traces);
      session.push({ type: "offer", offerId: offer.offerId, task, expiresAt: offer.expiresAt });
    }
  }

  async function recallTraces(robot: RobotRef, offers: readonly { task: OfferedTask }[]) {
    if (!options.traces || offers.length === 0) return undefined;
    const taskIds = offers.map((offer) => offer.task.id);
    return options.traces.recall(robot.tenantId, taskIds).catch(() => undefined);
  }

  /** The task with the trace context its robot continues: an `offer` span in the task's trace. */
  function tracedTask(
    task: OfferedTask,
    offerId: string,
    traces: Map<string, OfferedTask["trace"]> | undefined,
  ) {
    const parent = traces?.get(task.id);
    if (!parent) return task;
    const started = startSpan("offer task", {
      kind: SpanKind.PRODUCER,
      parent,
      attributes: {
        "perseus.task_id": task.id,
        "perseus.offer_id": offerId,
        "perseus.attempt": task.attempt,
      },
    });
    if (!started) return task;
    started.span.end();
    const trace = spanCarrier(started.span);
    return trace ? { ...task, trace } : task;
  }

  /** Claims for a robot, coalescing requests that arrive while a claim runs. */
  async function dispatch(robot: RobotRef): Promise<void> {
    const key = robotKey(robot);
    const running = claiming.get(key);
    if (running) {
      running.again = true;
      return;
    }
    const state = { again: true };
    claiming.set(key, state);
    try {
      while (state.again && !isClosing) {
        state.again = false;
        await claim(robot);
      }
    } catch (error) {
      log.warn({ err: error, robotId: robot.robotId }, "claiming offers failed; the local poll retries");
    } finally {
      claiming.delete(key);
    }
  }

  const anySession = (tenantId: string, robotId: string) => {
    const set = byRobot.get(`${tenantId}|${robotId}`);
    return set ? [...set][0] : undefined;
  };

  const hub: SessionHub & {
    sessions: Map<string, RobotSession>;
    dispatch(robot: RobotRef): Promise<void>;
    onWake(message: WakeMessage): void;
    deliverCancel(tenantId: string, robotId: string, taskId: string): void;
    deliverApproval(tenantId: string, robotId: string, frame: ApprovalDecidedFrame): void;
    tick(): Promise<void>;
    refreshPresence(): Promise<void>;
    closeAll(code: number, reason: string): Promise<void>;
    closeWhere(predicate: (session: RobotSession) => boolean, code: number, reason: string): void;
    /** Set by the terminal relay: a session was opened for one of this replica's connections. */
    onTerminalOpen?: (message: TerminalOpenMessage) => void;
    /** Set by the terminal relay: a robot connection of this replica closed. */
    onConnectionClosed?: (session: RobotSession) => void;
  } = {
    sessions,
    track(session) {
      tracked.add(session);
    },
    untrack(session) {
      tracked.delete(session);
    },
    register(session) {
      sessions.set(session.id, session);
      const key = robotKey(session.robot);
      const set = byRobot.get(key) ?? new Set();
      set.add(session);
      byRobot.set(key, set);
      void (async () => {
        await options.presence?.put(session.robot.tenantId, presenceOf(session));
        await enforceConnectionLimit(session);
      })().catch((error) => log.warn({ err: error }, "presence update failed"));
    },
    unregister(session) {
      sessions.delete(session.id);
      hub.onConnectionClosed?.(session);
      const key = robotKey(session.robot);
      const set = byRobot.get(key);
      set?.delete(session);
      if (set?.size === 0) byRobot.delete(key);
      void releaseOffers(db, session.robot, session.id)
        .then((rows) => {
          // Offers handed back go to the robot's other connections, wherever they are.
          if (rows.length > 0) options.waker.robot(session.robot.tenantId, session.robot.robotId);
        })
        .catch((error) => log.warn({ err: error }, "releasing offers of a closed connection failed"));
      void options.presence
        ?.remove(session.robot.tenantId, session.robot.robotId, session.id)
        .catch((error) => log.warn({ err: error }, "presence update failed"));
    },
    dispatchSoon(robot) {
      setImmediate(() => void dispatch(robot));
    },
    dispatch,
    onWake(message) {
      if (message.k === "wake") {
        const session = anySession(message.t, message.r);
        if (session) void dispatch(session.robot);
      } else if (message.k === "cancel") {
        hub.deliverCancel(message.t, message.r, message.task);
      } else if (message.k === "approval") {
        hub.deliverApproval(message.t, message.r, message.f);
      } else if (message.k === "terminal") {
        hub.onTerminalOpen?.(message);
      } else {
        sessions
          .get(message.conn)
          ?.close(RobotCloseCode.replaced, "replaced by a newer connection of this robot");
      }
    },
    deliverCancel(tenantId, robotId, taskId) {
      for (const session of byRobot.get(`${tenantId}|${robotId}`) ?? []) {
        const epoch = session.leases.get(taskId);
        if (epoch !== undefined)
          session.push({ type: "cancel", taskId, epoch, reason: "cancelled by a user" });
      }
    },
    deliverApproval(tenantId, robotId, frame) {
      const connections = [...(byRobot.get(`${tenantId}|${robotId}`) ?? [])];
      // The connection holding the lease asked; any other of the robot's ignores an unknown request id.
      const holders = connections.filter((session) => session.leases.has(frame.taskId));
      for (const session of holders.length ? holders : connections) session.push(frame);
    },
    /** The local poll: every robot with a free slot here claims, with or without Redis. */
    async tick() {
      const robots = [...byRobot.values()]
        .map((set) => [...set])
        .filter((list) => list.some((s) => s.state === "ready" && s.freeSlots > 0))
        .map((list) => (list[0] as RobotSession).robot);
      for (const robot of robots) await dispatch(robot);
    },
    async refreshPresence() {
      await options.presence?.refresh(
        [...sessions.values()].map((session) => ({
          tenantId: session.robot.tenantId,
          entry: presenceOf(session),
        })),
      );
    },
    closeWhere(predicate, code, reason) {
      for (const session of [...sessions.values()]) if (predicate(session)) session.close(code, reason);
    },
    async closeAll(code, reason) {
      isClosing = true;
      const all = [...tracked];
      // Offers go back first so another replica can hand them out at once; leases stay (resume).
      await Promise.all(
        all.filter((s) => s.state === "ready").map((s) => releaseOffers(db, s.robot, s.id).catch(() => [])),
      );
      for (const session of all) session.close(code, reason);
    },
  };
  return hub;
}
export type Hub = ReturnType<typeof createHub>;
