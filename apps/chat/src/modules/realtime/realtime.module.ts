import websocket from "@fastify/websocket";
import { createKeyspace } from "@perseus/bus";
import { chatRoutes, type RealtimeQuery, realtimeCloseCodes } from "@perseus/contracts";
import type { Db } from "@perseus/db";
import {
  AppError,
  ForbiddenError,
  type Revocations,
  registerRoutes,
  UnauthenticatedError,
} from "@perseus/kit";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Redis } from "ioredis";
import type { ChatConfig } from "../../config.js";
import { attachConnection, startHeartbeat } from "./connection.js";
import { createEphemeralBus, type EphemeralSignal } from "./ephemeral.js";
import { frame } from "./frames.js";
import { createHub } from "./hub.js";
import { createIntake } from "./intake.js";
import { createPresence } from "./presence.js";
import { createStreamTail } from "./stream-tail.js";
import { createOriginCheck, createTicketStore, type RealtimeSession } from "./tickets.js";

export type RealtimeOptions = {
  prefix: string;
  db: Db;
  redis: Redis;
  config: ChatConfig;
  instanceId: string;
  revocations: Revocations;
  /** Stores a read marker for the session's user (access-checked); resolves to the stored seq. */
  markRead: (session: RealtimeSession, chatgroupId: string, seq: number) => Promise<number>;
};

/**
 * The realtime hub: ticket route, the WebSocket endpoint (refused before the upgrade on a
 * bad Origin or ticket), stream tails that feed every replica, presence and typing, and the
 * lifecycle that closes sockets with 1012 on a graceful stop.
 */
export async function registerRealtime(app: FastifyInstance, options: RealtimeOptions) {
  const { config, redis, prefix } = options;
  const log = app.log.child({ module: "realtime" });
  const keys = createKeyspace(config.REDIS_PREFIX);
  const tickets = createTicketStore({
    redis,
    prefix: config.REDIS_PREFIX,
    ttlSeconds: config.CHAT_TICKET_TTL_SECONDS,
  });
  const isAllowedOrigin = createOriginCheck([config.PUBLIC_ORIGIN, ...config.CHAT_ALLOWED_ORIGINS]);

  const bus = createEphemeralBus({
    redis,
    prefix: config.REDIS_PREFIX,
    log,
    onSignal: (signal) => onSignal(signal),
  });
  const presence = createPresence({
    redis,
    prefix: config.REDIS_PREFIX,
    instanceId: options.instanceId,
    bus,
    log,
  });
  const tails = {
    chat: createStreamTail({
      redis,
      key: keys.stream("chat"),
      log,
      blockMs: config.CHAT_STREAM_BLOCK_MS,
      onEntries: (entries) => intake.chat(entries),
      onLoss: () => hub.resyncAll(),
    }),
    task: createStreamTail({
      redis,
      key: keys.stream("task"),
      log,
      blockMs: config.CHAT_STREAM_BLOCK_MS,
      onEntries: (entries) => intake.task(entries),
      // Task status and progress are live-only; the chat's durable part (the reply) is a message.
      onLoss: () => {},
    }),
    identity: createStreamTail({
      redis,
      key: keys.stream("identity"),
      log,
      blockMs: config.CHAT_STREAM_BLOCK_MS,
      onEntries: (entries) => intake.identity(entries),
      onLoss: () => void hub.recheckAll(),
    }),
  };
  const ready = Promise.all([tails.chat.ready, tails.task.ready, tails.identity.ready]);
  const hub = createHub({
    db: options.db,
    log,
    presence,
    replayLimit: config.CHAT_REPLAY_LIMIT,
    maxBufferedBytes: config.CHAT_WS_MAX_BUFFERED_BYTES,
    slowGraceMs: config.CHAT_WS_SLOW_GRACE_MS,
    maxSubscriptions: config.CHAT_WS_MAX_SUBSCRIPTIONS,
    ready,
  });
  const intake = createIntake({ hub, log });

  // Presence refreshes are coalesced per chatgroup: a burst of joins costs one read.
  const presenceRefresh = new Map<string, NodeJS.Timeout>();
  function refreshPresence(tenantId: string, chatgroupId: string) {
    const key = `${tenantId}:${chatgroupId}`;
    if (presenceRefresh.has(key) || !hub.hasRoom(tenantId, chatgroupId)) return;
    const timer = setTimeout(() => {
      presenceRefresh.delete(key);
      presence
        .read(tenantId, chatgroupId)
        .then((userIds) =>
          hub.broadcast(tenantId, chatgroupId, frame({ type: "presence", chatgroupId, userIds })),
        )
        .catch((error: Error) => log.debug({ err: error.message }, "presence read failed"));
    }, 50);
    timer.unref();
    presenceRefresh.set(key, timer);
  }

  function onSignal(signal: EphemeralSignal) {
    switch (signal.k) {
      case "typing":
        return hub.broadcast(
          signal.t,
          signal.c,
          frame({ type: "typing", chatgroupId: signal.c, userId: signal.u }),
          signal.u,
        );
      case "read":
        return hub.sendToUser(
          signal.t,
          signal.u,
          frame({ type: "read_marker", chatgroupId: signal.c, seq: signal.s }),
        );
      case "presence":
        return refreshPresence(signal.t, signal.c);
    }
  }

  const connectionDeps = {
    hub,
    bus,
    log,
    limits: { framesPerSecond: config.CHAT_WS_FRAMES_PER_SECOND },
    markRead: options.markRead,
  };

  await app.register(websocket, {
    options: { maxPayload: config.CHAT_WS_MAX_PAYLOAD, perMessageDeflate: false },
    preClose: async () => {
      await hub.shutdown();
      await new Promise<void>((resolve) => app.websocketServer.close(() => resolve()));
    },
  });

  registerRoutes(
    app,
    prefix,
    { createRealtimeTicket: chatRoutes.createRealtimeTicket },
    {
      createRealtimeTicket: async ({ actor, reply }) => {
        if (actor.type !== "user") throw new ForbiddenError("only people open realtime sockets");
        const { ticket, expiresAt } = await tickets.issue({
          userId: actor.userId,
          tenantId: actor.tenantId,
          role: actor.role,
          sessionId: actor.sessionId ?? null,
        });
        reply.code(201);
        return { ticket, expiresAt: expiresAt.toISOString(), url: `${prefix}/realtime` };
      },
    },
  );

  const sessions = new WeakMap<FastifyRequest, RealtimeSession>();
  // A revocation in the same millisecond as the ticket refuses it too (the clock cannot
  // tell which came first, and refusing is the safe side).
  const isRevoked = (session: RealtimeSession) => {
    const userSince = options.revocations.notBefore("user", session.userId);
    const sessionSince = session.sessionId
      ? options.revocations.notBefore("session", session.sessionId)
      : undefined;
    return (
      (userSince !== undefined && session.issuedAtMs <= userSince) ||
      (sessionSince !== undefined && session.issuedAtMs <= sessionSince)
    );
  };

  app.get(
    `${prefix}/realtime`,
    {
      websocket: true,
      schema: { hide: true },
      // Everything is checked before the upgrade: a refused client gets a plain HTTP problem.
      preValidation: async (request: FastifyRequest) => {
        if (!request.ws) throw new AppError("bad_request", "this endpoint only accepts WebSocket upgrades");
        if (!isAllowedOrigin(request.headers.origin)) throw new ForbiddenError("origin not allowed");
        const ticket = (request.query as Partial<RealtimeQuery>).ticket;
        if (typeof ticket !== "string" || ticket.length === 0)
          throw new UnauthenticatedError("ticket required");
        const session = await tickets.redeem(ticket);
        if (!session || isRevoked(session))
          throw new UnauthenticatedError("ticket invalid, expired or already used");
        sessions.set(request, session);
      },
    },
    (socket, request) => {
      const session = sessions.get(request);
      if (!session) return socket.close(1011, "no session");
      attachConnection(connectionDeps, socket, session);
    },
  );

  const unsubscribeRevocations = options.revocations.onRevoked((kind, id) => {
    const code = realtimeCloseCodes.revoked;
    if (kind === "user") hub.closeWhere((conn) => conn.session.userId === id, code, "revoked");
    else if (kind === "session") hub.closeWhere((conn) => conn.session.sessionId === id, code, "revoked");
  });

  let stopHeartbeat = () => {};
  app.addHook("onReady", async () => {
    for (const tail of Object.values(tails)) tail.start();
    presence.start();
    stopHeartbeat = startHeartbeat(hub, config.CHAT_WS_PING_INTERVAL_MS);
    void bus
      .start()
      .catch((error: Error) => log.warn({ err: error.message }, "ephemeral bus failed to start"));
  });
  app.addHook("onClose", async () => {
    unsubscribeRevocations();
    stopHeartbeat();
    for (const timer of presenceRefresh.values()) clearTimeout(timer);
    await Promise.all([...Object.values(tails).map((tail) => tail.stop()), bus.stop(), presence.stop()]);
  });

  return {
    hub,
    /** Resolves when the stream tails are positioned (tests wait for it before posting). */
    ready,
    publishReadMarker: (marker: { tenantId: string; userId: string; chatgroupId: string; seq: number }) =>
      bus.publish({ k: "read", t: marker.tenantId, c: marker.chatgroupId, u: marker.userId, s: marker.seq }),
  };
}
