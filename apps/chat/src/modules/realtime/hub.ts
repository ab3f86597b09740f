import { realtimeCloseCodes } from "@perseus/contracts";
import { access, type Db, withTenant } from "@perseus/db";
import type { FastifyBaseLogger } from "fastify";
import type { WebSocket } from "ws";
import { getLastSeq } from "../messages/messages.repo.js";
import { createDelivery } from "./delivery.js";
import { errorFrame, frame, taskStatusFrame } from "./frames.js";
import { createLimiter } from "./limiter.js";
import type { Presence } from "./presence.js";
import { listUnfinishedTasks } from "./task-snapshot.js";
import type { RealtimeSession } from "./tickets.js";
import type { Connection, Item, Subscription } from "./types.js";

export type { Connection, Item, Subscription } from "./types.js";

export type HubOptions = {
  db: Db;
  log: FastifyBaseLogger;
  presence: Presence;
  replayLimit: number;
  maxBufferedBytes: number;
  slowGraceMs: number;
  maxSubscriptions: number;
  /** Subscriptions wait for this: the stream tails must be positioned before anyone relies on them. */
  ready?: Promise<unknown>;
  /** How many subscribe lookups may run at once (default: half the database pool; posts and the relay need the rest). */
  maxConcurrentLookups?: number;
};

const roomKeyOf = (tenantId: string, chatgroupId: string) => `${tenantId}:${chatgroupId}`;

/** Unordered frames held for one subscription while its access is checked (a few ms); more are dropped. */
const MAX_HELD_FRAMES = 1_000;

// Buffers are sent as text frames: ws then neither copies nor re-encodes them per socket.
const TEXT = { binary: false } as const;

/**
 * The realtime hub of one replica: which local socket follows which chatgroup, sending
 * with back-pressure limits, subscriptions and access re-checks. The ordering rule itself
 * lives in delivery.ts.
 */
export function createHub(options: HubOptions) {
  const { db, log, presence } = options;
  const connections = new Set<Connection>();
  const rooms = new Map<string, Set<Subscription>>();
  const byUser = new Map<string, Set<Connection>>();
  let nextId = 1;
  const lookups = createLimiter(
    options.maxConcurrentLookups ?? Math.max(1, Math.floor((db.$client.options.max ?? 10) / 2)),
  );

  // ---- sending ------------------------------------------------------------------

  /**
   * A socket that does not drain would make us buffer without bound. A burst may fill a
   * healthy socket's buffer for a moment, so it must stay over the limit for a grace
   * period (or go far over it) before the socket is cut off; the client then resumes.
   */
  function isSlow(conn: Connection): boolean {
    const buffered = conn.socket.bufferedAmount;
    if (buffered <= options.maxBufferedBytes) {
      conn.overLimitSince = 0;
      return false;
    }
    const now = Date.now();
    if (conn.overLimitSince === 0) conn.overLimitSince = now;
    return buffered > options.maxBufferedBytes * 4 || now - conn.overLimitSince > options.slowGraceMs;
  }

  function send(conn: Connection, data: string | Buffer) {
    if (!conn.isOpen) return;
    if (isSlow(conn)) {
      close(conn, realtimeCloseCodes.slowConsumer, "slow consumer: reconnect and resume");
      return;
    }
    conn.socket.send(data, TEXT);
  }

  const { offer, catchUp, reloadRequired, readLastSeq } = createDelivery({
    db,
    log,
    replayLimit: options.replayLimit,
    send,
    close,
  });

  /** Ends a connection: its subscriptions stop at once, the socket gets `code` (and is cut after a grace). */
  function close(conn: Connection, code: number, reason: string) {
    if (!conn.isOpen) return;
    detach(conn);
    try {
      conn.socket.close(code, reason);
    } catch {
      conn.socket.terminate();
    }
    setTimeout(() => conn.socket.terminate(), 2_000).unref();
  }

  function detach(conn: Connection) {
    if (!conn.isOpen) return;
    conn.isOpen = false;
    for (const sub of conn.subs.values()) removeSub(sub);
    connections.delete(conn);
    const mine = byUser.get(conn.session.userId);
    mine?.delete(conn);
    if (mine?.size === 0) byUser.delete(conn.session.userId);
  }

  // ---- subscriptions ------------------------------------------------------------

  function addSub(sub: Subscription) {
    sub.conn.subs.set(sub.chatgroupId, sub);
    let room = rooms.get(sub.roomKey);
    if (!room) {
      room = new Set();
      rooms.set(sub.roomKey, room);
    }
    room.add(sub);
  }

  function removeSub(sub: Subscription) {
    if (!sub.isActive) return;
    sub.isActive = false;
    sub.queue = null;
    sub.held = null;
    if (sub.conn.subs.get(sub.chatgroupId) === sub) sub.conn.subs.delete(sub.chatgroupId);
    const room = rooms.get(sub.roomKey);
    room?.delete(sub);
    if (room?.size === 0) rooms.delete(sub.roomKey);
    if (sub.isPresent) presence.leave(sub.conn.session.tenantId, sub.chatgroupId, sub.conn.session.userId);
  }

  /** Drops every subscription of the user's sockets (in this tenant) they may no longer read. */
  async function recheckUser(tenantId: string, userId: string) {
    const targets = [...(byUser.get(userId) ?? [])].filter((conn) => conn.session.tenantId === tenantId);
    if (targets.length === 0) return;
    let readable: Set<string>;
    try {
      readable = new Set(
        await withTenant(db, { tenantId }, (tx) => access.listReadableChatgroupIds(tx, userId)),
      );
    } catch (error) {
      // Fail closed: if access cannot be re-checked, the sockets go and re-subscribe later.
      log.warn({ err: (error as Error).message }, "realtime access re-check failed; closing sockets");
      for (const conn of targets) close(conn, 1013, "access re-check failed: reconnect");
      return;
    }
    for (const conn of targets) {
      for (const sub of [...conn.subs.values()]) {
        if (readable.has(sub.chatgroupId)) continue;
        // Not confirmed yet: its own access query may predate the change, so re-check after it.
        if (!sub.isPresent) {
          sub.isRecheckPending = true;
          continue;
        }
        removeSub(sub);
        send(conn, frame({ type: "unsubscribed", chatgroupId: sub.chatgroupId, reason: "access_revoked" }));
      }
    }
  }

  return {
    connections,

    register(socket: WebSocket, session: RealtimeSession): Connection {
      const conn: Connection = {
        id: nextId++,
        socket,
        session,
        subs: new Map(),
        isOpen: true,
        isAlive: true,
        overLimitSince: 0,
        windowStart: Date.now(),
        framesInWindow: 0,
        strikes: 0,
      };
      connections.add(conn);
      let mine = byUser.get(session.userId);
      if (!mine) {
        mine = new Set();
        byUser.set(session.userId, mine);
      }
      mine.add(conn);
      return conn;
    },

    /** The socket closed: forget it (idempotent). */
    unregister: detach,
    send,
    close,
    /** Closes the socket if it has been a slow consumer for too long (checked on the heartbeat too). */
    closeIfSlow(conn: Connection) {
      if (conn.isOpen && conn.overLimitSince !== 0 && isSlow(conn)) {
        close(conn, realtimeCloseCodes.slowConsumer, "slow consumer: reconnect and resume");
      }
    },

    async subscribe(conn: Connection, chatgroupId: string, afterSeq: number | undefined) {
      await options.ready;
      if (!conn.isOpen) return;
      const previous = conn.subs.get(chatgroupId);
      if (previous) removeSub(previous);
      if (conn.subs.size >= options.maxSubscriptions) {
        return send(conn, errorFrame("too_many_subscriptions", "too many subscriptions", chatgroupId));
      }
      const { tenantId, userId } = conn.session;
      const sub: Subscription = {
        conn,
        chatgroupId,
        roomKey: roomKeyOf(tenantId, chatgroupId),
        lastSeq: afterSeq ?? 0,
        queue: [],
        needsResync: false,
        isActive: true,
        isPresent: false,
        held: [],
        isRecheckPending: false,
        lastTypingAt: 0,
      };
      // Registered before Postgres is read, so anything committed later reaches its queue;
      // nothing is sent before access is confirmed. A membership re-check that runs from
      // now on sees this subscription; one that ran before is visible to the query below.
      addSub(sub);
      let found: { lastSeq: number; tasks: Awaited<ReturnType<typeof listUnfinishedTasks>> } | null;
      try {
        found = await lookups(() =>
          withTenant(db, { tenantId }, async (tx) =>
            (await access.findReadableChatgroup(tx, userId, chatgroupId))
              ? {
                  lastSeq: await getLastSeq(tx, chatgroupId),
                  tasks: await listUnfinishedTasks(tx, chatgroupId),
                }
              : null,
          ),
        );
      } catch (error) {
        log.warn({ err: (error as Error).message, chatgroupId }, "realtime subscribe failed");
        removeSub(sub);
        return send(conn, errorFrame("internal", "could not subscribe; retry shortly", chatgroupId));
      }
      if (!sub.isActive) return;
      if (found === null) {
        removeSub(sub);
        // Same answer for "does not exist" and "not yours": nothing leaks.
        return send(conn, errorFrame("not_found", "chatgroup not found", chatgroupId));
      }
      const { lastSeq, tasks } = found;
      sub.isPresent = true;
      presence.join(tenantId, chatgroupId, userId);
      if (sub.isRecheckPending) void recheckUser(tenantId, userId);
      send(conn, frame({ type: "subscribed", chatgroupId, lastSeq }));
      // Task status is live-only: the snapshot covers events from before the subscription,
      // and what arrived while access was checked follows it (newer than the snapshot).
      for (const task of tasks) send(conn, taskStatusFrame(task));
      const held = sub.held ?? [];
      sub.held = null;
      for (const data of held) send(conn, data);
      // No cursor: live from here on (history comes over REST). A cursor beyond the end: reload.
      if (afterSeq === undefined) sub.lastSeq = lastSeq;
      else if (afterSeq > lastSeq) reloadRequired(sub, lastSeq);
      await catchUp(sub, lastSeq, sub.queue ?? []);
    },

    unsubscribe(conn: Connection, chatgroupId: string) {
      const sub = conn.subs.get(chatgroupId);
      if (!sub) return send(conn, errorFrame("not_subscribed", "not subscribed", chatgroupId));
      removeSub(sub);
      send(conn, frame({ type: "unsubscribed", chatgroupId, reason: "requested" }));
    },

    hasRoom: (tenantId: string, chatgroupId: string) => rooms.has(roomKeyOf(tenantId, chatgroupId)),

    /** A live item for a chatgroup (from the stream); `build` runs only if a local socket follows it. */
    deliver(tenantId: string, chatgroupId: string, kind: Item["kind"], seq: number, build: () => string) {
      const room = rooms.get(roomKeyOf(tenantId, chatgroupId));
      if (!room) return;
      const item: Item = { kind, seq, frame: Buffer.from(build()) };
      for (const sub of room) offer(sub, item);
    },

    /** An unordered frame (task status/progress, typing, presence) to a chatgroup's sockets. */
    broadcast(tenantId: string, chatgroupId: string, data: string, exceptUserId?: string) {
      const room = rooms.get(roomKeyOf(tenantId, chatgroupId));
      if (!room) return;
      const encoded = Buffer.from(data);
      for (const sub of room) {
        if (sub.conn.session.userId === exceptUserId) continue;
        if (!sub.held) send(sub.conn, encoded);
        else if (sub.held.length < MAX_HELD_FRAMES) sub.held.push(encoded);
      }
    },

    /** A frame to every socket of one user in one tenant (read markers follow the person, not the chatgroup). */
    sendToUser(tenantId: string, userId: string, data: string) {
      for (const conn of byUser.get(userId) ?? []) if (conn.session.tenantId === tenantId) send(conn, data);
    },

    closeWhere(predicate: (conn: Connection) => boolean, code: number, reason: string) {
      for (const conn of [...connections]) if (predicate(conn)) close(conn, code, reason);
    },

    recheckUser,

    /** The stream lost entries: every subscription catches up from Postgres (or is told to reload). */
    resyncAll() {
      for (const room of rooms.values()) {
        // One read of the last seq per room, shared by its sockets (all registered long before).
        let target: Promise<number> | undefined;
        for (const sub of room) {
          if (sub.queue) {
            sub.needsResync = true;
            continue;
          }
          target ??= readLastSeq(sub.conn.session.tenantId, sub.chatgroupId);
          void catchUp(sub, target, []);
        }
      }
    },

    /** Identity events may have been lost: re-check every user with a local subscription. */
    async recheckAll() {
      const users = new Map<string, { tenantId: string; userId: string }>();
      for (const conn of connections) {
        if (conn.subs.size > 0) users.set(`${conn.session.tenantId}:${conn.session.userId}`, conn.session);
      }
      for (const { tenantId, userId } of users.values()) await recheckUser(tenantId, userId);
    },

    /** Graceful stop: every socket gets 1012 (service restart) so clients reconnect elsewhere. */
    async shutdown(graceMs = 1_000) {
      const sockets = [...connections].map((conn) => conn.socket);
      for (const conn of [...connections]) close(conn, realtimeCloseCodes.serviceRestart, "service restart");
      const deadline = Date.now() + graceMs;
      while (Date.now() < deadline && sockets.some((socket) => socket.readyState !== socket.CLOSED)) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (const socket of sockets) if (socket.readyState !== socket.CLOSED) socket.terminate();
    },
  };
}
export type Hub = ReturnType<typeof createHub>;
