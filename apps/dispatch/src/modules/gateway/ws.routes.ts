import websocket from "@fastify/websocket";
import { RobotCloseCode, type RobotServerFrame } from "@perseus/contracts";
import {
  bearerToken,
  ForbiddenError,
  type TokenVerifier,
  UnauthenticatedError,
  type VerifiedToken,
} from "@perseus/kit";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { WebSocket } from "ws";
import { createFrameQueue } from "./frame-queue.js";
import { errorFrame, parseFrame, serialize } from "./frames.js";
import type { Hub } from "./hub.js";
import { createTokenBucket } from "./rate-limit.js";
import { RobotSession, type SessionDeps, type Transport } from "./session.js";

export const ROBOT_WS_PATH = "/robot/v1/ws";

/** Frames a connection may have waiting to be handled before it counts as flooding. */
const MAX_IN_FLIGHT = 64;

declare module "fastify" {
  interface FastifyRequest {
    robotToken?: VerifiedToken;
  }
}

export type RobotSocketOptions = {
  hub: Hub;
  sessionDeps: SessionDeps;
  verifier: TokenVerifier;
  /** Browsers send Origin; robots do not. A foreign one is refused (cross-site WebSocket hijacking). */
  allowedOrigin: string;
};

/**
 * Authenticates the upgrade before it completes: a robot access token in
 * `Authorization: Bearer`, nothing else. A refused upgrade is a plain HTTP 401/403.
 */
async function authenticateUpgrade(request: FastifyRequest, options: RobotSocketOptions) {
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== new URL(options.allowedOrigin).origin)
    throw new ForbiddenError("cross-origin WebSocket connections are not accepted");
  const token = bearerToken(request.headers.authorization);
  if (!token || token.startsWith("ptt_")) throw new UnauthenticatedError("a robot access token is required");
  request.robotToken = await options.verifier.verify(token, ["robot"]);
}

/** The robot gateway's WebSocket endpoint: one RobotSession per socket. */
export async function registerRobotSocket(app: FastifyInstance, prefix: string, options: RobotSocketOptions) {
  const { hub, sessionDeps } = options;
  const wire = sessionDeps.policy.wire;
  await app.register(websocket, {
    options: { maxPayload: wire.maxFrameBytes },
    // ws itself closes with the right code on protocol errors (1009 for an oversized frame);
    // terminating here (the default) could cut the close frame off. Handler bugs get 1011.
    errorHandler: (error, socket, request) => {
      request.log.info({ err: error }, "robot socket error");
      if (socket.readyState === WebSocket.OPEN) socket.close(RobotCloseCode.internalError, "internal error");
    },
    // Shutdown: robots get 1012 (reconnect elsewhere, resume their leases), not a bare close.
    preClose: async function (this: FastifyInstance) {
      await hub.closeAll(RobotCloseCode.serviceRestart, "server restarting");
      const server = this.websocketServer;
      for (const client of server.clients) {
        setTimeout(() => client.terminate(), 1_000).unref();
      }
      await new Promise((resolve) => server.close(() => resolve(undefined)));
    } as unknown as (done: () => void) => void,
  });

  app.get(
    `${prefix}${ROBOT_WS_PATH}`,
    { websocket: true, preValidation: (request) => authenticateUpgrade(request, options) },
    (socket, request) => {
      const verified = request.robotToken;
      if (verified?.kind !== "robot") {
        socket.close(RobotCloseCode.unauthorized, "unauthenticated");
        return;
      }
      const log = request.log;
      const transport: Transport = {
        kind: "ws",
        push(frame: RobotServerFrame) {
          if (socket.readyState === WebSocket.OPEN) socket.send(serialize(frame));
        },
        close(code, reason) {
          if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING)
            socket.close(code, reason.slice(0, 120));
        },
      };
      const session = new RobotSession(
        sessionDeps,
        transport,
        {
          tenantId: verified.claims.tid,
          robotId: verified.claims.sub,
          credentialId: verified.claims.cid,
          handle: verified.claims.hdl,
        },
        verified,
      );
      const bucket = createTokenBucket(wire.maxFramesPerSecond, wire.maxFramesPerSecond);
      const frames = createFrameQueue();
      let inFlight = 0;

      socket.on("message", (data, isBinary) => {
        if (session.state === "closed") return;
        if (!bucket.take() || inFlight >= MAX_IN_FLIGHT) {
          session.close(RobotCloseCode.rateLimited, "frame rate limit exceeded");
          return;
        }
        if (isBinary) {
          transport.push(errorFrame(null, "invalid_frame", "frames are JSON text, not binary"));
          return;
        }
        const text = Buffer.isBuffer(data)
          ? data.toString("utf8")
          : Buffer.concat(data as Buffer[]).toString("utf8");
        const parsed = parseFrame(text);
        const handle = async () => {
          try {
            for (const reply of await session.handleParsed(parsed)) transport.push(reply);
          } catch (error) {
            log.warn({ err: error }, "robot frame failed");
            const ref = parsed.ok ? parsed.frame.id : null;
            transport.push(errorFrame(ref, "internal", "the frame could not be handled now; retry it"));
          } finally {
            inFlight--;
          }
        };
        inFlight++;
        // Heartbeats have a lane of their own, so a busy connection keeps its leases; a terminal's
        // frames keep their order in the lane of their session.
        const lane = !parsed.ok
          ? null
          : parsed.frame.type === "heartbeat"
            ? "heartbeats"
            : "taskId" in parsed.frame
              ? parsed.frame.taskId
              : "sessionId" in parsed.frame
                ? `terminal:${parsed.frame.sessionId}`
                : null;
        frames.run(handle, { isReady: session.state === "ready", lane });
      });

      // Liveness below the protocol: a peer that stops answering pings is cut off.
      let isAlive = true;
      socket.on("pong", () => {
        isAlive = true;
      });
      const pinger = setInterval(
        () => {
          if (!isAlive) {
            socket.terminate();
            return;
          }
          isAlive = false;
          socket.ping();
        },
        Math.max(wire.heartbeatIntervalMs, 1_000),
      );
      pinger.unref();

      socket.on("close", () => {
        clearInterval(pinger);
        session.onClosed();
      });
    },
  );
}
