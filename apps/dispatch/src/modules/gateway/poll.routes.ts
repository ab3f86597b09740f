import { randomBytes } from "node:crypto";
import { dispatchRoutes, RobotCloseCode, type RobotServerFrame } from "@perseus/contracts";
import {
  AppError,
  bearerToken,
  NotFoundError,
  registerRoutes,
  type TokenVerifier,
  UnauthenticatedError,
} from "@perseus/kit";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { errorFrame } from "./frames.js";
import type { Hub } from "./hub.js";
import { createTokenBucket, type TokenBucket } from "./rate-limit.js";
import { RobotSession, type SessionDeps, type Transport } from "./session.js";

/** Frames queued for a poll session, numbered so a poll can say what it has seen. */
class PollTransport implements Transport {
  readonly kind = "poll" as const;
  private queue: { seq: number; frame: RobotServerFrame }[] = [];
  private nextSeq = 1;
  private waiters = new Set<() => void>();
  closed: { code: number; reason: string } | null = null;
  lastUsedAt = Date.now();
  /** Polls waiting right now: a session with one is in use, however long it waits. */
  waiting = 0;

  get isListening() {
    return this.waiting > 0;
  }

  push(frame: RobotServerFrame) {
    if (this.closed) return;
    this.queue.push({ seq: this.nextSeq++, frame });
    // A robot that stops polling must not grow our memory without bound.
    if (this.queue.length > 1_000) this.queue.splice(0, this.queue.length - 1_000);
    this.wake();
  }

  close(code: number, reason: string) {
    if (this.closed) return;
    this.closed = { code, reason };
    this.wake();
  }

  private wake() {
    for (const waiter of this.waiters) waiter();
    this.waiters.clear();
  }

  /** Frames after `cursor` (older ones are acknowledged and dropped), waiting up to `waitMs` for one. */
  async take(cursor: number, waitMs: number): Promise<{ seq: number; frame: RobotServerFrame }[]> {
    this.queue = this.queue.filter((entry) => entry.seq > cursor);
    if (this.queue.length === 0 && !this.closed && waitMs > 0) {
      this.waiting++;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
      this.waiting--;
      this.lastUsedAt = Date.now();
    }
    return [...this.queue];
  }
}

type PollSession = { id: string; transport: PollTransport; session: RobotSession; bucket: TokenBucket };

export type PollOptions = {
  hub: Hub;
  sessionDeps: SessionDeps;
  verifier: TokenVerifier;
  idleMs: number;
};

const closedError = (closed: { code: number; reason: string }) =>
  new AppError("gone", `the session is closed (${closed.code}: ${closed.reason}); open a new one`, {
    headers: { "x-perseus-close-code": String(closed.code) },
  });

/**
 * The long-poll fallback: the same frames and semantics as the WebSocket, carried by two
 * requests. Sessions live in this replica's memory (route a session's requests to the same
 * replica); a lost session is like a dropped socket: open a new one and resume the leases.
 */
export function registerRobotPoll(app: FastifyInstance, prefix: string, options: PollOptions) {
  const sessions = new Map<string, PollSession>();
  const wire = options.sessionDeps.policy.wire;

  async function tokenOf(request: FastifyRequest) {
    const token = bearerToken(request.headers.authorization);
    if (!token) throw new UnauthenticatedError();
    const verified = await options.verifier.verify(token, ["robot"]);
    if (verified.kind !== "robot") throw new UnauthenticatedError();
    return verified;
  }

  async function find(request: FastifyRequest, sessionId: string): Promise<PollSession> {
    const verified = await tokenOf(request);
    const found = sessions.get(sessionId);
    const robot = found?.session.robot;
    if (!found || robot?.robotId !== verified.claims.sub || robot.credentialId !== verified.claims.cid)
      throw new NotFoundError("poll session");
    found.session.updateToken(verified);
    found.transport.lastUsedAt = Date.now();
    return found;
  }

  const sweeper = setInterval(
    () => {
      const now = Date.now();
      for (const [id, entry] of sessions) {
        if (entry.transport.closed && now - entry.transport.lastUsedAt > 5_000) sessions.delete(id);
        else if (
          !entry.transport.closed &&
          entry.transport.waiting === 0 &&
          now - entry.transport.lastUsedAt > options.idleMs
        ) {
          // Closed like a dropped socket; kept a few seconds so a late poll learns why (410).
          entry.session.close(RobotCloseCode.normal, "poll session idle");
          entry.transport.lastUsedAt = now;
        }
      }
    },
    Math.max(50, Math.min(options.idleMs / 4, 5_000)),
  );
  sweeper.unref();
  app.addHook("onClose", async () => clearInterval(sweeper));

  const { robotPoll, robotFrames } = dispatchRoutes;
  const routes = { robotPoll, robotFrames };
  registerRoutes(app, prefix, routes, {
    robotPoll: async ({ body, request }) => {
      if (!body.sessionId) {
        const verified = await tokenOf(request);
        const transport = new PollTransport();
        const robot = {
          tenantId: verified.claims.tid,
          robotId: verified.claims.sub,
          credentialId: verified.claims.cid,
          handle: verified.claims.hdl,
        };
        const session = new RobotSession(options.sessionDeps, transport, robot, verified);
        const id = `ps_${randomBytes(18).toString("base64url")}`;
        sessions.set(id, {
          id,
          transport,
          session,
          bucket: createTokenBucket(wire.maxFramesPerSecond, wire.maxFramesPerSecond),
        });
        return { sessionId: id, cursor: 0, frames: [] };
      }
      const entry = await find(request, body.sessionId);
      // A robot that starts listening again may be offered work at once.
      if (entry.session.state === "ready") options.hub.dispatchSoon(entry.session.robot);
      const frames = await entry.transport.take(body.cursor, body.waitMs);
      entry.transport.lastUsedAt = Date.now();
      if (frames.length === 0 && entry.transport.closed) {
        sessions.delete(entry.id);
        throw closedError(entry.transport.closed);
      }
      return {
        sessionId: entry.id,
        cursor: frames.at(-1)?.seq ?? body.cursor,
        frames: frames.map((item) => item.frame),
      };
    },
    robotFrames: async ({ body, request }) => {
      const entry = await find(request, body.sessionId);
      if (entry.transport.closed) throw closedError(entry.transport.closed);
      for (const frame of body.frames) {
        if (Buffer.byteLength(JSON.stringify(frame)) > wire.maxFrameBytes)
          throw new AppError("payload_too_large", `a frame is larger than ${wire.maxFrameBytes} bytes`);
      }
      for (let i = 0; i < body.frames.length; i++) {
        if (!entry.bucket.take()) {
          entry.session.close(RobotCloseCode.rateLimited, "frame rate limit exceeded");
          throw new AppError("rate_limited", "frame rate limit exceeded; the session is closed", {
            retryAfter: 1,
            headers: { "retry-after": "1", "x-perseus-close-code": String(RobotCloseCode.rateLimited) },
          });
        }
      }
      const replies: RobotServerFrame[] = [];
      for (const frame of body.frames) {
        try {
          replies.push(...(await entry.session.handleFrame(frame)));
        } catch (error) {
          request.log.warn({ err: error }, "robot frame failed");
          replies.push(errorFrame(frame.id, "internal", "the frame could not be handled now; retry it"));
        }
        if (entry.transport.closed) break;
      }
      return { frames: replies };
    },
  });

  return {
    sessions,
  };
}
