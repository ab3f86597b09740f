import { type BusLogger, createEvent, createRedisConnection, enqueueEvents } from "@perseus/bus";
import type { Db } from "@perseus/db";
import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import type { DispatchConfig } from "../../config.js";
import { dispatchKeys } from "../../lib/keys.js";
import type { DispatchRuntime } from "../../runtime.js";
import { createPresence } from "../gateway/presence.js";
import { createTerminalRelay, type TranscriptRecorder } from "./relay.js";
import { registerTerminalRoutes } from "./terminals.routes.js";
import { createTerminalsService } from "./terminals.service.js";
import { createTerminalTickets } from "./tickets.js";

/** Where a recorded transcript goes in the chatgroup's workspace. */
export const transcriptPath = (sessionId: string, openedAt: Date) =>
  `terminal-sessions/${openedAt.toISOString().slice(0, 10)}-${sessionId}.log`;

/** The transcript leaves as a `terminal.recorded` event, in the transaction that closes the session. */
const recordTranscript: TranscriptRecorder = async (tx, row, transcript) => {
  if (!row.chatgroupId || !row.closedAt) return;
  await enqueueEvents(tx, [
    createEvent("terminal.recorded", row.tenantId, {
      sessionId: row.id,
      robotId: row.robotId,
      chatgroupId: row.chatgroupId,
      openedBy: row.openedBy,
      path: transcriptPath(row.id, row.openedAt),
      transcript: transcript.toString("base64"),
      openedAt: row.openedAt.toISOString(),
      closedAt: row.closedAt.toISOString(),
    }),
  ]);
};

/**
 * Live terminals: the relay (hooked into the hub; the robot sessions take it as their
 * `terminals`), and `registerRoutes` for the REST API and the attach socket, to be called
 * after the robot socket is registered (it installs WebSocket support).
 */
export function createTerminals(
  app: FastifyInstance,
  prefix: string,
  deps: { config: DispatchConfig; db: Db; redis: Redis; runtime: DispatchRuntime },
) {
  const { config, runtime } = deps;
  const keys = dispatchKeys(config.REDIS_PREFIX);
  const busLog: BusLogger = {
    info: (fields, message) => app.log.info(fields, message),
    warn: (fields, message) => app.log.warn(fields, message),
    error: (fields, message) => app.log.error(fields, message),
  };
  const presence = createPresence({
    redis: deps.redis,
    keys,
    staleMs: Math.max(15_000, config.HEARTBEAT_INTERVAL_MS * 3),
  });
  const relay = createTerminalRelay({
    db: deps.db,
    redis: deps.redis,
    connect: () => createRedisConnection(config.REDIS_URL, "worker", { log: busLog }),
    keys,
    policy: {
      idleMs: config.TERMINAL_IDLE_MS,
      bufferBytes: config.TERMINAL_BUFFER_BYTES,
      windowBytes: config.TERMINAL_WINDOW_BYTES,
      viewerBufferBytes: config.TERMINAL_VIEWER_BUFFER_BYTES,
      openTimeoutMs: config.TERMINAL_OPEN_TIMEOUT_MS,
      recordBytes: config.TERMINAL_RECORD_BYTES,
      sweepMs: config.TERMINAL_SWEEP_MS,
    },
    log: app.log,
    recorder: recordTranscript,
    liveConnections: async (tenantId, robotId) =>
      (await presence.connectionsOf(tenantId, robotId)).map((entry) => entry.connectionId),
  });
  runtime.terminals = relay;
  runtime.hub.onTerminalOpen = (message) => relay.onOpen(message, runtime.hub.sessions.get(message.conn));
  runtime.hub.onConnectionClosed = (session) => relay.onConnectionClosed(session);
  const tickets = createTerminalTickets({
    redis: deps.redis,
    keys,
    ttlSeconds: config.TERMINAL_TICKET_TTL_S,
  });
  const service = createTerminalsService({
    db: deps.db,
    presence,
    waker: runtime.waker,
    relay,
    tickets,
    prefix,
  });
  app.addHook("onReady", async () => relay.start());
  app.addHook("preClose", async () => relay.stop());
  return {
    relay,
    registerRoutes: () =>
      registerTerminalRoutes(app, prefix, { service, relay, tickets, allowedOrigin: config.PUBLIC_ORIGIN }),
  };
}
