import { RealtimeClientFrame, realtimeCloseCodes } from "@perseus/contracts";
import type { FastifyBaseLogger } from "fastify";
import type { RawData, WebSocket } from "ws";
import type { EphemeralBus } from "./ephemeral.js";
import { errorFrame, frame } from "./frames.js";
import type { Connection, Hub } from "./hub.js";
import type { RealtimeSession } from "./tickets.js";

export type ConnectionLimits = {
  framesPerSecond: number;
  /** Invalid frames (bad JSON, unknown type, wrong shape) tolerated before the socket is closed. */
  maxStrikes?: number;
};

export type ConnectionDeps = {
  hub: Hub;
  bus: EphemeralBus;
  log: FastifyBaseLogger;
  limits: ConnectionLimits;
  /** Moves the user's read marker (checks access); resolves to the stored position. */
  markRead: (session: RealtimeSession, chatgroupId: string, seq: number) => Promise<number>;
};

const KNOWN_TYPES = new Set(["subscribe", "unsubscribe", "typing", "read", "ping"]);
const TYPING_INTERVAL_MS = 1_000;

/** Counts a frame against the socket's per-second budget; false when it must be dropped. */
function admit(deps: ConnectionDeps, conn: Connection): boolean {
  const now = Date.now();
  if (now - conn.windowStart >= 1_000) {
    conn.windowStart = now;
    conn.framesInWindow = 0;
  }
  const count = ++conn.framesInWindow;
  const limit = deps.limits.framesPerSecond;
  if (count <= limit) return true;
  // Far over budget is a flood, not a burst: close instead of spending more on it.
  if (count > limit * 4) {
    deps.hub.close(conn, realtimeCloseCodes.rateLimited, "too many frames");
  } else if (count === limit + 1) {
    deps.hub.send(conn, errorFrame("rate_limited", `more than ${limit} frames per second; frames dropped`));
  }
  return false;
}

function strike(
  deps: ConnectionDeps,
  conn: Connection,
  code: "invalid_frame" | "unknown_type",
  message: string,
) {
  conn.strikes++;
  if (conn.strikes > (deps.limits.maxStrikes ?? 20)) {
    deps.hub.close(conn, realtimeCloseCodes.policyViolation, "too many invalid frames");
    return;
  }
  deps.hub.send(conn, errorFrame(code, message));
}

function handleFrame(deps: ConnectionDeps, conn: Connection, data: RawData, isBinary: boolean) {
  const { hub } = deps;
  conn.isAlive = true;
  if (!conn.isOpen || !admit(deps, conn)) return;
  if (isBinary) return strike(deps, conn, "invalid_frame", "frames are JSON text");
  let json: unknown;
  try {
    json = JSON.parse(data.toString());
  } catch {
    return strike(deps, conn, "invalid_frame", "frame is not valid JSON");
  }
  const parsed = RealtimeClientFrame.safeParse(json);
  if (!parsed.success) {
    const type = (json as { type?: unknown } | null)?.type;
    if (typeof type !== "string" || !KNOWN_TYPES.has(type)) {
      return strike(deps, conn, "unknown_type", "unknown frame type");
    }
    return strike(deps, conn, "invalid_frame", `invalid ${type} frame`);
  }
  const message = parsed.data;
  switch (message.type) {
    case "ping":
      return hub.send(conn, frame(message.id ? { type: "pong", id: message.id } : { type: "pong" }));
    case "subscribe":
      return void hub.subscribe(conn, message.chatgroupId, message.afterSeq).catch((error: Error) => {
        deps.log.warn({ err: error.message }, "realtime subscribe failed");
        hub.send(conn, errorFrame("internal", "could not subscribe; retry shortly", message.chatgroupId));
      });
    case "unsubscribe":
      return hub.unsubscribe(conn, message.chatgroupId);
    case "typing": {
      const sub = conn.subs.get(message.chatgroupId);
      if (!sub) return hub.send(conn, errorFrame("not_subscribed", "not subscribed", message.chatgroupId));
      const now = Date.now();
      if (now - sub.lastTypingAt < TYPING_INTERVAL_MS) return;
      sub.lastTypingAt = now;
      const { tenantId, userId } = conn.session;
      return deps.bus.publish({ k: "typing", t: tenantId, c: message.chatgroupId, u: userId });
    }
    case "read": {
      if (!conn.subs.has(message.chatgroupId)) {
        return hub.send(conn, errorFrame("not_subscribed", "not subscribed", message.chatgroupId));
      }
      // The marker frame reaches this and the user's other sockets through the ephemeral bus.
      return void deps.markRead(conn.session, message.chatgroupId, message.seq).catch((error: Error) => {
        deps.log.warn({ err: error.message }, "realtime read marker failed");
        hub.send(conn, errorFrame("internal", "could not store the read marker", message.chatgroupId));
      });
    }
  }
}

/** Wires one accepted socket to the hub: frames in, liveness, cleanup on close. */
export function attachConnection(
  deps: ConnectionDeps,
  socket: WebSocket,
  session: RealtimeSession,
): Connection {
  const conn = deps.hub.register(socket, session);
  socket.on("message", (data, isBinary) => handleFrame(deps, conn, data, isBinary));
  socket.on("pong", () => {
    conn.isAlive = true;
  });
  socket.on("close", () => deps.hub.unregister(conn));
  socket.on("error", () => deps.hub.unregister(conn));
  return conn;
}

/** Pings every socket periodically; one that missed the previous ping is dead and terminated. */
export function startHeartbeat(hub: Hub, intervalMs: number): () => void {
  const timer = setInterval(() => {
    for (const conn of [...hub.connections]) {
      if (!conn.isAlive) {
        hub.unregister(conn);
        conn.socket.terminate();
        continue;
      }
      conn.isAlive = false;
      hub.closeIfSlow(conn);
      try {
        conn.socket.ping();
      } catch {
        // The socket is closing; its close event cleans up.
      }
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
