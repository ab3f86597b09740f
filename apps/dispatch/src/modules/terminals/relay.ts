import {
  type RobotServerFrame,
  TERMINAL_CHUNK_BYTES,
  TerminalClientFrame,
  type TerminalExitFrame,
  type TerminalOpenedFrame,
  type TerminalOutputFrame,
  type TerminalServerFrame,
  terminalCloseCodes,
} from "@perseus/contracts";
import { type Db, type Tx, withTenant } from "@perseus/db";
import type { FastifyBaseLogger } from "fastify";
import type { Redis } from "ioredis";
import { WebSocket } from "ws";
import type { DispatchKeys } from "../../lib/keys.js";
import { errorFrame } from "../gateway/frames.js";
import type { RobotSession } from "../gateway/session.js";
import type { TerminalOpenMessage } from "../scheduler/waker.js";
import { compareIds, createStreamFanIn, type StreamEntry, toEntry } from "./fan-in.js";
import { createHostLostSweep, type LiveConnections } from "./host-lost.js";
import {
  closeTerminalRow,
  findTerminal,
  markOpen,
  type TerminalActor,
  type TerminalRow,
} from "./terminals.repo.js";

export type TerminalPolicy = {
  /** A session without input or output for this long is closed (`idle`). */
  idleMs: number;
  /** Recent output kept per session (the ring buffer a re-attaching viewer sees). */
  bufferBytes: number;
  /** Output a robot may have unacknowledged (flow control). */
  windowBytes: number;
  /** A viewer whose socket holds more than this unsent loses output (with a notice). */
  viewerBufferBytes: number;
  /** A session whose pty is not up by then is closed (`open_failed`). */
  openTimeoutMs: number;
  /** The most of a recorded transcript that is kept (its tail). */
  recordBytes: number;
  /** How often sessions whose robot connection is gone are looked for (`host_lost`). */
  sweepMs: number;
};

/** Hands a closed session's transcript on, in the transaction that closes it (an outbox event). */
export type TranscriptRecorder = (tx: Tx, row: TerminalRow, transcript: Buffer) => Promise<void>;

/** What a redeemed attach ticket grants. */
export type AttachGrant = { tenantId: string; userId: string; sessionId: string; writer: boolean };

/** Counters for operators and tests: buffering stays bounded however fast a pty writes. */
export type RelayStats = {
  /** Largest unsent backlog seen on any viewer socket. */
  maxViewerBufferedBytes: number;
  /** Output not sent to viewers that fell behind. */
  droppedBytes: number;
  /** Output bytes relayed from robots into the session streams. */
  relayedBytes: number;
};

type Local = {
  tenantId: string;
  robotId: string;
  connection: RobotSession;
  recording: boolean;
  lastActivity: number;
  /** Why it ends when its connection goes (a revocation says so before closing the socket). */
  endReason: string | null;
};

type Viewer = {
  socket: WebSocket;
  grant: AttachGrant;
  /** Last entry shown; null while the snapshot is being prepared (entries wait in `backlog`). */
  lastId: string | null;
  backlog: StreamEntry[];
  dropped: number;
  readOnlyNoticeAt: number;
};

const encodeOutput = (data: Buffer) => data.toString("base64");

/**
 * The terminal relay of one replica. The replica holding a robot's connection is the
 * session's host: it turns `terminal.*` robot frames into entries of the session's output
 * stream (capped: the ring buffer) and follows the session's input stream back to the
 * robot. Viewers may be on any replica: each follows the output streams of its viewers'
 * sessions with one blocking reader. Nothing passes through process memory alone.
 */
export function createTerminalRelay(options: {
  db: Db;
  redis: Redis;
  /** Opens a dedicated connection (blocking reads). */
  connect: () => Redis;
  keys: DispatchKeys;
  policy: TerminalPolicy;
  log: FastifyBaseLogger;
  recorder: TranscriptRecorder | null;
  liveConnections: LiveConnections;
}) {
  const { db, redis, keys, policy, log } = options;
  const ringEntries = Math.max(2, Math.ceil(policy.bufferBytes / TERMINAL_CHUNK_BYTES));
  const recordEntries = Math.max(1, Math.ceil(policy.recordBytes / TERMINAL_CHUNK_BYTES));
  const stats: RelayStats = { maxViewerBufferedBytes: 0, droppedBytes: 0, relayedBytes: 0 };
  const local = new Map<string, Local>();
  const localByInKey = new Map<string, string>();
  const viewers = new Map<string, Set<Viewer>>();
  const timers = new Set<NodeJS.Timeout>();
  let idleTimer: NodeJS.Timeout | null = null;

  const inKey = (tenantId: string, id: string) => keys.terminalIn(tenantId, id);
  const outKey = (tenantId: string, id: string) => keys.terminalOut(tenantId, id);

  const inputs = createStreamFanIn({
    redis: options.connect(),
    blockMs: 250,
    log,
    onEntries: (key, entries) => {
      const sessionId = localByInKey.get(key);
      if (sessionId) for (const entry of entries) onControl(sessionId, entry);
    },
  });
  const outputs = createStreamFanIn({
    redis: options.connect(),
    blockMs: 250,
    log,
    onEntries: (key, entries) => {
      for (const viewer of viewers.get(key) ?? []) {
        if (viewer.lastId === null) viewer.backlog.push(...entries);
        else for (const entry of entries) deliver(viewer, entry);
      }
    },
  });

  // ---- ending a session (any replica) -----------------------------------------------

  function forgetLocal(sessionId: string) {
    const entry = local.get(sessionId);
    if (!entry) return null;
    local.delete(sessionId);
    const key = inKey(entry.tenantId, sessionId);
    localByInKey.delete(key);
    inputs.remove(key);
    return entry;
  }

  /** The tail of a recorded session's output (at most `recordBytes`). */
  async function readTranscript(tenantId: string, sessionId: string): Promise<Buffer> {
    const raw = (await redis.xrangeBuffer(keys.terminalRecord(tenantId, sessionId), "-", "+")) as unknown as [
      Buffer,
      Buffer[],
    ][];
    const transcript = Buffer.concat(raw.map(toEntry).flatMap((entry) => entry.fields.get("d") ?? []));
    return transcript.length > policy.recordBytes
      ? transcript.subarray(transcript.length - policy.recordBytes)
      : transcript;
  }

  /**
   * Ends a session: the row and its audit event in one transaction (first close wins), then
   * the end goes to viewers (output stream) and to the host (input stream), and the
   * transcript is recorded. Returns the closed row, or null when it had already ended.
   */
  async function closeSession(
    tenantId: string,
    sessionId: string,
    end: { reason: string; exitCode?: number | null; closedBy?: string | null },
    actor: TerminalActor,
  ): Promise<TerminalRow | null> {
    const row = await withTenant(db, { tenantId }, async (tx) => {
      const closed = await closeTerminalRow(tx, sessionId, end, actor);
      // The transcript leaves with the state change (an outbox event), or not at all.
      if (closed?.recording && options.recorder)
        await options.recorder(tx, closed, await readTranscript(tenantId, sessionId));
      return closed;
    });
    const host = forgetLocal(sessionId);
    if (host && end.reason !== "exit" && end.reason !== "robot_disconnected")
      host.connection.push({ type: "terminal.close", sessionId, reason: end.reason });
    if (!row) return null;
    const out = outKey(tenantId, sessionId);
    const input = inKey(tenantId, sessionId);
    const pipeline = redis.pipeline();
    if (row.exitCode !== null || end.reason === "exit")
      pipeline.xadd(out, "MAXLEN", ringEntries, "*", "t", "x", "d", String(row.exitCode ?? ""));
    pipeline.xadd(out, "MAXLEN", ringEntries, "*", "t", "c", "d", end.reason);
    pipeline.xadd(input, "MAXLEN", "~", 1000, "*", "t", "c", "d", end.reason);
    // Late viewers still find the screen and the end for a while.
    pipeline.expire(out, 600);
    pipeline.expire(input, 60);
    await pipeline.exec().catch((error) => log.warn({ err: error }, "announcing a terminal's end failed"));
    if (row.recording) await redis.del(keys.terminalRecord(tenantId, sessionId)).catch(() => {});
    return row;
  }

  const closeQuietly = (
    tenantId: string,
    sessionId: string,
    end: { reason: string; exitCode?: number | null },
    actor: TerminalActor,
  ) =>
    void closeSession(tenantId, sessionId, end, actor).catch((error) =>
      log.warn({ err: error, sessionId }, "closing a terminal session failed"),
    );

  // ---- host side: the replica holding the robot's connection ---------------------------

  function onOpen(message: TerminalOpenMessage, connection: RobotSession | undefined) {
    if (!connection || connection.isClosed || connection.robot.robotId !== message.r || local.has(message.s))
      return;
    local.set(message.s, {
      tenantId: message.t,
      robotId: message.r,
      connection,
      recording: message.rec,
      lastActivity: Date.now(),
      endReason: null,
    });
    const key = inKey(message.t, message.s);
    localByInKey.set(key, message.s);
    inputs.add(key, "0");
    connection.push({
      type: "terminal.open",
      sessionId: message.s,
      cols: message.cols,
      rows: message.rows,
      window: policy.windowBytes,
    });
  }

  function onControl(sessionId: string, entry: StreamEntry) {
    const host = local.get(sessionId);
    if (!host) return;
    const type = entry.fields.get("t")?.toString();
    const data = entry.fields.get("d") ?? Buffer.alloc(0);
    if (type === "i") {
      host.lastActivity = Date.now();
      host.connection.push({ type: "terminal.input", sessionId, data: data.toString("base64") });
    } else if (type === "r") {
      const [cols, rows] = data.toString().split("x").map(Number);
      if (cols && rows) host.connection.push({ type: "terminal.resize", sessionId, cols, rows });
    } else if (type === "c") {
      forgetLocal(sessionId);
      host.connection.push({ type: "terminal.close", sessionId, reason: data.toString() });
    }
  }

  type TerminalFrame = TerminalOpenedFrame | TerminalOutputFrame | TerminalExitFrame;

  /** A `terminal.*` frame of a robot connection on this replica; answered with ack (= credit) or error. */
  async function onRobotFrame(connection: RobotSession, frame: TerminalFrame): Promise<RobotServerFrame[]> {
    const host = local.get(frame.sessionId);
    if (!host || host.connection !== connection)
      return [errorFrame(frame.id, "not_found", "no such terminal session on this connection")];
    const ack: RobotServerFrame = { type: "ack", ref: frame.id, result: {} };
    switch (frame.type) {
      case "terminal.opened":
        await withTenant(db, { tenantId: host.tenantId }, (tx) => markOpen(tx, frame.sessionId));
        return [ack];
      case "terminal.output": {
        const data = Buffer.from(frame.data, "base64");
        host.lastActivity = Date.now();
        const pipeline = redis.pipeline();
        pipeline.xadd(
          outKey(host.tenantId, frame.sessionId),
          "MAXLEN",
          ringEntries,
          "*",
          "t",
          "o",
          "d",
          data,
        );
        if (host.recording)
          pipeline.xadd(
            keys.terminalRecord(host.tenantId, frame.sessionId),
            "MAXLEN",
            recordEntries,
            "*",
            "d",
            data,
          );
        const results = await pipeline.exec();
        const failed = results?.find(([error]) => error)?.[0];
        if (failed) throw failed;
        stats.relayedBytes += data.length;
        return [ack];
      }
      case "terminal.exit":
        await closeSession(
          host.tenantId,
          frame.sessionId,
          frame.error !== undefined
            ? { reason: "open_failed", exitCode: frame.code }
            : { reason: "exit", exitCode: frame.code },
          { type: "robot", id: host.robotId },
        );
        return [ack];
    }
  }

  /** A robot connection of this replica closed: its sessions end (revoked, when that was why). */
  function onConnectionClosed(connection: RobotSession) {
    for (const [sessionId, host] of [...local]) {
      if (host.connection !== connection) continue;
      forgetLocal(sessionId);
      closeQuietly(
        host.tenantId,
        sessionId,
        { reason: host.endReason ?? "robot_disconnected" },
        { type: "system" },
      );
    }
  }

  /** Ends the sessions of revoked robots or credentials, before their sockets close. */
  function revokeWhere(predicate: (connection: RobotSession) => boolean) {
    for (const [sessionId, host] of [...local]) {
      if (!predicate(host.connection)) continue;
      host.endReason = "revoked";
      closeQuietly(host.tenantId, sessionId, { reason: "revoked" }, { type: "system" });
    }
  }

  function checkIdle() {
    const now = Date.now();
    for (const [sessionId, host] of [...local]) {
      if (now - host.lastActivity < policy.idleMs) continue;
      host.lastActivity = now; // one close attempt per period
      closeQuietly(host.tenantId, sessionId, { reason: "idle" }, { type: "system" });
    }
  }

  const hostLost = createHostLostSweep({
    db,
    log,
    liveConnections: options.liveConnections,
    isLocal: (sessionId) => local.has(sessionId),
    openTimeoutMs: policy.openTimeoutMs,
    close: async (tenantId, sessionId) =>
      (await closeSession(tenantId, sessionId, { reason: "host_lost" }, { type: "system" })) !== null,
  });

  /** The pty never came up: close the session (from the replica that opened it). */
  function armOpenTimeout(tenantId: string, sessionId: string) {
    const timer = setTimeout(() => {
      timers.delete(timer);
      void withTenant(db, { tenantId }, (tx) => findTerminal(tx, sessionId))
        .then((row) => {
          if (row?.status === "opening")
            closeQuietly(tenantId, sessionId, { reason: "open_failed" }, { type: "system" });
        })
        .catch(() => {});
    }, policy.openTimeoutMs);
    timer.unref();
    timers.add(timer);
  }

  // ---- viewer side ------------------------------------------------------------------

  function send(viewer: Viewer, frame: TerminalServerFrame) {
    if (viewer.socket.readyState !== WebSocket.OPEN) return;
    viewer.socket.send(JSON.stringify(frame));
    stats.maxViewerBufferedBytes = Math.max(stats.maxViewerBufferedBytes, viewer.socket.bufferedAmount);
  }

  /** Tells a viewer how much output it missed, once it can take frames again (or at the end). */
  function reportDropped(viewer: Viewer) {
    if (viewer.dropped === 0) return;
    send(viewer, {
      type: "notice",
      text: `output dropped (${viewer.dropped} bytes): this viewer fell behind`,
    });
    viewer.dropped = 0;
  }

  function sendOutput(viewer: Viewer, data: Buffer) {
    if (viewer.socket.bufferedAmount > policy.viewerBufferBytes) {
      viewer.dropped += data.length;
      stats.droppedBytes += data.length;
      return;
    }
    reportDropped(viewer);
    send(viewer, { type: "output", data: encodeOutput(data) });
  }

  function endViewer(viewer: Viewer, reason: string) {
    reportDropped(viewer);
    send(viewer, { type: "closed", reason });
    if (viewer.socket.readyState === WebSocket.OPEN) viewer.socket.close(terminalCloseCodes.normal, "closed");
  }

  function deliver(viewer: Viewer, entry: StreamEntry) {
    if (viewer.lastId !== null && compareIds(entry.id, viewer.lastId) <= 0) return;
    viewer.lastId = entry.id;
    const type = entry.fields.get("t")?.toString();
    const data = entry.fields.get("d") ?? Buffer.alloc(0);
    if (type === "o") sendOutput(viewer, data);
    else if (type === "x") {
      const text = data.toString();
      send(viewer, { type: "exit", code: text === "" ? null : Number(text) });
    } else if (type === "c") endViewer(viewer, data.toString());
  }

  function detach(viewer: Viewer) {
    const key = outKey(viewer.grant.tenantId, viewer.grant.sessionId);
    const set = viewers.get(key);
    set?.delete(viewer);
    if (set && set.size === 0) {
      viewers.delete(key);
      outputs.remove(key);
    }
  }

  async function onViewerMessage(viewer: Viewer, raw: string) {
    let parsed: ReturnType<typeof TerminalClientFrame.safeParse>;
    try {
      parsed = TerminalClientFrame.safeParse(JSON.parse(raw));
    } catch {
      viewer.socket.close(terminalCloseCodes.policyViolation, "frames are JSON");
      return;
    }
    if (!parsed.success) {
      viewer.socket.close(terminalCloseCodes.policyViolation, "unknown or malformed frame");
      return;
    }
    const frame = parsed.data;
    if (!viewer.grant.writer) {
      // One notice a second at most: a read-only viewer typing away gets no flood back.
      if (Date.now() - viewer.readOnlyNoticeAt > 1_000) {
        viewer.readOnlyNoticeAt = Date.now();
        send(viewer, {
          type: "notice",
          text: "read-only: only the person who opened this terminal may type",
        });
      }
      return;
    }
    const key = inKey(viewer.grant.tenantId, viewer.grant.sessionId);
    if (frame.type === "input") {
      const data = Buffer.from(frame.data, "base64");
      if (data.length > 0) await redis.xadd(key, "MAXLEN", "~", 1000, "*", "t", "i", "d", data);
    } else {
      await redis.xadd(key, "MAXLEN", "~", 1000, "*", "t", "r", "d", `${frame.cols}x${frame.rows}`);
    }
  }

  /** A browser attached with a redeemed ticket: role, snapshot, then live output until the end. */
  async function attach(socket: WebSocket, grant: AttachGrant) {
    const viewer: Viewer = { socket, grant, lastId: null, backlog: [], dropped: 0, readOnlyNoticeAt: 0 };
    let queue = Promise.resolve();
    socket.on("message", (data, isBinary) => {
      if (isBinary) {
        socket.close(terminalCloseCodes.policyViolation, "frames are JSON text");
        return;
      }
      const text = Buffer.isBuffer(data)
        ? data.toString("utf8")
        : Buffer.concat(data as Buffer[]).toString("utf8");
      queue = queue
        .then(() => onViewerMessage(viewer, text))
        .catch((error) => log.warn({ err: error }, "terminal input failed"));
    });
    socket.on("close", () => detach(viewer));
    const row = await withTenant(db, { tenantId: grant.tenantId }, (tx) => findTerminal(tx, grant.sessionId));
    if (!row) {
      socket.close(terminalCloseCodes.policyViolation, "no such session");
      return;
    }
    send(viewer, { type: "role", writer: grant.writer });
    const key = outKey(grant.tenantId, grant.sessionId);
    // Follow the stream from no later than the snapshot; entries both in the snapshot and
    // delivered live are told apart by their ids.
    if (!viewers.has(key)) {
      const [last] = (await redis.xrevrange(key, "+", "-", "COUNT", 1)) as [string, string[]][];
      if (!viewers.has(key)) {
        viewers.set(key, new Set());
        outputs.add(key, last?.[0] ?? "0-0");
      }
    }
    if (socket.readyState !== WebSocket.OPEN) {
      if (viewers.get(key)?.size === 0) {
        viewers.delete(key);
        outputs.remove(key);
      }
      return;
    }
    viewers.get(key)?.add(viewer);
    const raw = (await redis.xrangeBuffer(key, "-", "+")) as unknown as [Buffer, Buffer[]][];
    const entries = raw.map(toEntry);
    const screen = Buffer.concat(
      entries.filter((e) => e.fields.get("t")?.toString() === "o").map((e) => e.fields.get("d") as Buffer),
    );
    send(viewer, { type: "snapshot", data: encodeOutput(screen) });
    viewer.lastId = entries.at(-1)?.id ?? "0-0";
    const ended = entries.some((e) => e.fields.get("t")?.toString() === "c");
    for (const entry of entries) {
      const type = entry.fields.get("t")?.toString();
      if (type === "x" || type === "c") deliver({ ...viewer, lastId: null }, entry);
    }
    if (ended) return;
    if (row.status === "closed") {
      endViewer(viewer, row.closeReason ?? "closed");
      return;
    }
    const backlog = viewer.backlog.splice(0);
    for (const entry of backlog) deliver(viewer, entry);
  }

  return {
    stats,
    closeSession,
    armOpenTimeout,
    onOpen,
    onRobotFrame,
    onConnectionClosed,
    revokeWhere,
    attach,
    /** Sessions hosted here (their robot's connection is on this replica). */
    get localSessions() {
      return local.size;
    },
    get viewerCount() {
      let count = 0;
      for (const set of viewers.values()) count += set.size;
      return count;
    },
    start() {
      inputs.start();
      outputs.start();
      idleTimer = setInterval(checkIdle, Math.max(50, Math.min(1_000, Math.floor(policy.idleMs / 4))));
      idleTimer.unref();
      hostLost.start(policy.sweepMs);
    },
    async stop() {
      if (idleTimer) clearInterval(idleTimer);
      hostLost.stop();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const set of viewers.values())
        for (const viewer of set)
          if (viewer.socket.readyState === WebSocket.OPEN)
            viewer.socket.close(terminalCloseCodes.serviceRestart, "server restarting");
      await Promise.all([inputs.stop(), outputs.stop()]);
    },
  };
}
export type TerminalRelay = ReturnType<typeof createTerminalRelay>;
