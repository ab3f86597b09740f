import {
  type AcceptFrame,
  type ApprovalRequestFrame,
  type HeartbeatFrame,
  type HelloFrame,
  type LeaseRef,
  type OfferedTask,
  ROBOT_PROTOCOL_MIN_VERSION,
  ROBOT_PROTOCOL_VERSION,
  type RobotClientFrame,
  RobotCloseCode,
  type RobotPolicy,
  type RobotServerFrame,
  type TerminalExitFrame,
  type TerminalOpenedFrame,
  type TerminalOutputFrame,
  type WelcomeFrame,
} from "@perseus/contracts";
import { type Db, schema } from "@perseus/db";
import type { VerifiedToken } from "@perseus/kit";
import { inSpan, SpanKind } from "@perseus/tracing";
import { and, eq, isNull } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import { inTenant } from "../../lib/tx.js";
import type { LeaseMetrics } from "../../metrics.js";
import { rejectOffer } from "../leases/assignment.js";
import { completeTask, confirmCancelled, failTask } from "../leases/effects.js";
import {
  acceptOffer,
  extendLeases,
  type RobotRef,
  recordProgress,
  releaseLease,
  resumeLeases,
  type WriteError,
} from "../leases/lease-store.js";
import type { Waker } from "../scheduler/waker.js";
import { errorFrame, type ParsedFrame, parseFrame } from "./frames.js";

export type GatewayPolicy = {
  wire: RobotPolicy;
  helloTimeoutMs: number;
  historyLimit: number;
  retryBaseMs: number;
  retryMaxMs: number;
  rejectDelayMs: number;
  features: string[];
};

/** How frames leave: a WebSocket, or the queue of a long-poll session. */
export type Transport = {
  readonly kind: "ws" | "poll";
  /** A long poll is waiting right now: the robot is there, listening. */
  readonly isListening?: boolean;
  push(frame: RobotServerFrame): void;
  close(code: number, reason: string): void;
};

/** What a session needs from its replica's connection hub. */
export type SessionHub = {
  track(session: RobotSession): void;
  untrack(session: RobotSession): void;
  register(session: RobotSession): void;
  unregister(session: RobotSession): void;
  /** The robot's slots or queue may have changed: claim work for it (soon, after replies go out). */
  dispatchSoon(robot: RobotRef): void;
};

export type SessionDeps = {
  db: Db;
  policy: GatewayPolicy;
  hub: SessionHub;
  waker: Waker;
  /** Whether the token is still acceptable now (not expired, not revoked): checked on every frame. */
  isStillValid(verified: VerifiedToken): boolean;
  /** Dangerous-command approvals: requests under a lease, and decisions sent again on resume. */
  approvals: {
    request(robot: RobotRef, frame: ApprovalRequestFrame): Promise<RobotServerFrame[]>;
    decisionsFor(robot: RobotRef, leases: readonly LeaseRef[]): Promise<RobotServerFrame[]>;
  };
  /** Live terminals: the robot's pty frames (absent: terminal frames are refused). */
  terminals?: {
    onRobotFrame(
      session: RobotSession,
      frame: TerminalOpenedFrame | TerminalOutputFrame | TerminalExitFrame,
    ): Promise<RobotServerFrame[]>;
  };
  metrics?: LeaseMetrics;
};

const MAX_CONSECUTIVE_ERRORS = 20;

/** A lease write's outcome as a bounded metric label: accepted, duplicate or the refusal code. */
const outcomeOf = (written: { ok: true; duplicate?: boolean } | WriteError) =>
  written.ok ? (written.duplicate ? "duplicate" : "accepted") : written.code;

/**
 * One robot connection speaking protocol v1, independent of its transport: hello and
 * version negotiation, then lease frames, each answered with ack or error. All lease state
 * lives in Postgres; the session only remembers what it needs to route offers and cancels.
 */
export class RobotSession {
  readonly id = uuidv7();
  readonly openedAt = Date.now();
  state: "awaiting_hello" | "ready" | "closed" = "awaiting_hello";
  /** min(hello.concurrency, robots.max_concurrency) */
  capacity = 0;
  lastFrameAt = Date.now();
  /** Leases this connection holds (task → epoch), for cancels and slot counting. */
  readonly leases = new Map<string, number>();
  /** Offers sent and not yet answered (offer id → task id, expiry). */
  readonly offers = new Map<string, { taskId: string; expiresAt: number }>();
  configVersion = 0;
  /** What the robot said it can do in its hello (`terminal` makes it a host for live terminals). */
  capabilities: ReadonlySet<string> = new Set();
  private consecutiveErrors = 0;
  private readonly helloTimer: NodeJS.Timeout;
  private expiryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: SessionDeps,
    readonly transport: Transport,
    readonly robot: RobotRef & { handle: string },
    private verified: VerifiedToken,
  ) {
    deps.hub.track(this);
    this.helloTimer = setTimeout(() => {
      if (this.state === "awaiting_hello")
        this.close(RobotCloseCode.helloTimeout, "hello not received in time");
    }, deps.policy.helloTimeoutMs);
    this.helloTimer.unref();
    this.armExpiry();
  }

  /** A connection does not outlive its access token: the robot reconnects with a fresh one and resumes. */
  private armExpiry() {
    clearTimeout(this.expiryTimer);
    const expiresInMs = Math.max(0, this.verified.claims.exp * 1000 - Date.now());
    this.expiryTimer = setTimeout(
      () => this.close(RobotCloseCode.tokenExpired, "access token expired; reconnect with a fresh one"),
      Math.min(expiresInMs, 2_147_000_000),
    );
    this.expiryTimer.unref();
  }

  /** A long-poll session continues with the fresher token of a later request (same credential only). */
  updateToken(verified: VerifiedToken) {
    if (verified.kind !== "robot" || verified.claims.exp <= this.verified.claims.exp) return;
    if (verified.claims.sub !== this.robot.robotId || verified.claims.cid !== this.robot.credentialId) return;
    this.verified = verified;
    this.armExpiry();
  }

  /** Still acceptable: not expired, neither the robot nor this credential revoked. */
  get isAuthorized() {
    return this.deps.isStillValid(this.verified);
  }

  get isClosed() {
    return this.state === "closed";
  }

  /** Slots not taken by a lease or an unanswered offer. */
  get freeSlots(): number {
    const now = Date.now();
    for (const [offerId, offer] of this.offers) if (offer.expiresAt <= now) this.offers.delete(offerId);
    return this.capacity - this.leases.size - this.offers.size;
  }

  /** Heard from within 2.5 heartbeat intervals: a silent (paused, partitioned) robot gets no offers. */
  get isResponsive(): boolean {
    if (this.transport.isListening) return true;
    return Date.now() - this.lastFrameAt <= this.deps.policy.wire.heartbeatIntervalMs * 2.5;
  }

  push(frame: RobotServerFrame) {
    if (this.state !== "closed") this.transport.push(frame);
  }

  close(code: number, reason: string) {
    if (this.state === "closed") return;
    this.transport.close(code, reason);
    this.onClosed();
  }

  /** The transport went away (socket closed, poll session idle): forget it, give back its offers. */
  onClosed() {
    if (this.state === "closed") return;
    const wasReady = this.state === "ready";
    this.state = "closed";
    clearTimeout(this.helloTimer);
    clearTimeout(this.expiryTimer);
    this.deps.hub.untrack(this);
    if (wasReady) this.deps.hub.unregister(this);
  }

  /** Handles one raw text frame; returns the frames that answer it. */
  async handleText(text: string): Promise<RobotServerFrame[]> {
    return this.handleParsed(parseFrame(text));
  }

  async handleParsed(parsed: ParsedFrame): Promise<RobotServerFrame[]> {
    if (!parsed.ok) return this.countError([parsed.error]);
    return this.handleFrame(parsed.frame);
  }

  async handleFrame(frame: RobotClientFrame): Promise<RobotServerFrame[]> {
    if (this.state === "closed") return [];
    this.lastFrameAt = Date.now();
    if (!this.isAuthorized) {
      const isExpired = this.verified.claims.exp * 1000 <= Date.now();
      if (isExpired)
        this.close(RobotCloseCode.tokenExpired, "access token expired; reconnect with a fresh one");
      else this.close(RobotCloseCode.unauthorized, "credential or robot revoked");
      return [];
    }
    if (frame.type === "hello") {
      // The deadline is for sending hello; handling it may take a while on a busy database.
      clearTimeout(this.helloTimer);
      return this.hello(frame);
    }
    if (this.state !== "ready")
      return this.countError([errorFrame(frame.id, "hello_required", "send hello first")]);
    // A well-formed frame refused on its merits (stale epoch, expired lease…) is no protocol error.
    const traced = frame.type === "progress" || frame.type === "complete" || frame.type === "fail";
    if (!traced || !frame.trace?.traceparent) return this.ok(await this.dispatchFrame(frame));
    // The robot sent the context of its work: the write (and the events it causes) joins that trace.
    const span = {
      kind: SpanKind.SERVER,
      parent: frame.trace,
      attributes: { "perseus.robot_id": this.robot.robotId, "perseus.task_id": frame.taskId },
    };
    return this.ok(await inSpan(`robot ${frame.type}`, span, () => this.dispatchFrame(frame)));
  }

  /** The lease ended (or was never this robot's): stop routing cancels to it and free its slot. */
  private forgetLease(taskId: string, epoch: number) {
    if (this.leases.get(taskId) === epoch) this.leases.delete(taskId);
  }

  private ok(replies: RobotServerFrame[]) {
    this.consecutiveErrors = 0;
    return replies;
  }

  /**
   * Protocol errors are answered; a client that keeps sending garbage is closed with 4000. Closes
   * that follow a reply wait a macrotask (setImmediate), so the reply goes out first.
   */
  private countError(replies: RobotServerFrame[]) {
    if (++this.consecutiveErrors >= MAX_CONSECUTIVE_ERRORS) {
      setImmediate(() => this.close(RobotCloseCode.protocolError, "too many invalid frames"));
    }
    return replies;
  }

  private async dispatchFrame(frame: Exclude<RobotClientFrame, HelloFrame>): Promise<RobotServerFrame[]> {
    const { db, policy } = this.deps;
    const ack = (result: Record<string, unknown> = {}): RobotServerFrame => ({
      type: "ack",
      ref: frame.id,
      result,
    });
    const refused = (error: WriteError) => [errorFrame(frame.id, error.code, error.message)];
    switch (frame.type) {
      case "accept":
        return this.accept(frame);
      case "reject": {
        const row = await rejectOffer(db, this.robot, frame.taskId, frame.offerId, frame.reason, policy);
        this.offers.delete(frame.offerId);
        this.deps.hub.dispatchSoon(this.robot);
        return row ? [ack()] : [errorFrame(frame.id, "offer_expired", "the offer is no longer open")];
      }
      case "heartbeat":
        return this.heartbeat(frame);
      case "progress": {
        const written = await recordProgress(db, this.robot, frame);
        if (written.ok) return [ack({ duplicate: written.duplicate })];
        // The robot stops that work and sends nothing more for it (no heartbeat, no result):
        // unless the slot is given back here, the connection stays "full" for good.
        if (written.code !== "conflict") {
          this.forgetLease(frame.taskId, frame.epoch);
          this.deps.hub.dispatchSoon(this.robot);
        }
        return refused(written);
      }
      case "complete":
      case "fail":
      case "cancelled": {
        const written =
          frame.type === "complete"
            ? await completeTask(db, this.robot, frame)
            : frame.type === "fail"
              ? await failTask(db, this.robot, frame, policy)
              : await confirmCancelled(db, this.robot, frame);
        this.deps.metrics?.ended(frame.type, outcomeOf(written));
        if (written.ok || written.code !== "conflict") this.forgetLease(frame.taskId, frame.epoch);
        this.deps.hub.dispatchSoon(this.robot);
        if (!written.ok) return refused(written);
        if (written.notBefore)
          this.deps.waker.retryAt(this.robot.tenantId, this.robot.robotId, written.notBefore);
        return [ack({ status: written.status, duplicate: written.duplicate })];
      }
      case "release": {
        const written = await releaseLease(db, this.robot, frame);
        this.deps.metrics?.ended("release", outcomeOf(written));
        if (written.ok || written.code !== "conflict") this.forgetLease(frame.taskId, frame.epoch);
        this.deps.hub.dispatchSoon(this.robot);
        return written.ok ? [ack({ status: written.status })] : refused(written);
      }
      case "approval.request":
        return this.deps.approvals.request(this.robot, frame);
      case "terminal.opened":
      case "terminal.output":
      case "terminal.exit":
        return this.deps.terminals
          ? this.deps.terminals.onRobotFrame(this, frame)
          : [errorFrame(frame.id, "not_found", "this server runs no terminal sessions")];
    }
  }

  private async accept(frame: AcceptFrame): Promise<RobotServerFrame[]> {
    const { db, policy } = this.deps;
    const written = await acceptOffer(db, this.robot, this.id, frame.taskId, frame.offerId, {
      leaseTtlMs: policy.wire.leaseTtlMs,
      historyLimit: policy.historyLimit,
    });
    this.offers.delete(frame.offerId);
    if (!written.ok) {
      this.deps.hub.dispatchSoon(this.robot);
      return [errorFrame(frame.id, written.code, written.message)];
    }
    this.leases.set(frame.taskId, written.lease.epoch);
    this.deps.metrics?.granted();
    return [{ type: "ack", ref: frame.id, result: { lease: written.lease } }];
  }

  private async heartbeat(frame: HeartbeatFrame): Promise<RobotServerFrame[]> {
    const { db, policy } = this.deps;
    const result = await extendLeases(db, this.robot, frame.leases, policy.wire.leaseTtlMs);
    const replies: RobotServerFrame[] = [{ type: "ack", ref: frame.id, result: { leases: result.leases } }];
    for (const lease of result.leases) {
      if (lease.expiresAt === null) {
        this.leases.delete(lease.taskId);
        replies.push({
          type: "lease_lost",
          taskId: lease.taskId,
          epoch: lease.epoch,
          reason: "lease expired or ended",
        });
      } else {
        this.leases.set(lease.taskId, lease.epoch);
        if (lease.cancelRequested)
          replies.push({
            type: "cancel",
            taskId: lease.taskId,
            epoch: lease.epoch,
            reason: "cancelled by a user",
          });
      }
    }
    if (result.configVersion === null) {
      setImmediate(() => this.close(RobotCloseCode.unauthorized, "the robot was removed or revoked"));
    } else if (result.configVersion !== this.configVersion) {
      const config = await this.loadConfig();
      if (config) replies.push({ type: "config", config });
    }
    return replies;
  }

  private async loadConfig() {
    const [row] = await inTenant(this.deps.db, { tenantId: this.robot.tenantId }, (tx) =>
      tx
        .select({ config: schema.robots.config, version: schema.robots.configVersion })
        .from(schema.robots)
        .where(and(eq(schema.robots.id, this.robot.robotId), isNull(schema.robots.revokedAt))),
    );
    if (!row) return null;
    this.configVersion = row.version;
    return { version: row.version, settings: (row.config ?? {}) as Record<string, unknown> };
  }

  private async hello(frame: HelloFrame): Promise<RobotServerFrame[]> {
    if (this.state !== "awaiting_hello")
      return this.countError([
        errorFrame(frame.id, "invalid_frame", "hello was already sent on this connection"),
      ]);
    const version = Math.min(frame.protocol.max, ROBOT_PROTOCOL_VERSION);
    if (version < Math.max(frame.protocol.min, ROBOT_PROTOCOL_MIN_VERSION)) {
      const supported = `${ROBOT_PROTOCOL_MIN_VERSION}..${ROBOT_PROTOCOL_VERSION}`;
      setImmediate(() => this.close(RobotCloseCode.unsupportedVersion, `server speaks ${supported}`));
      return [
        errorFrame(
          frame.id,
          "unsupported_version",
          `no protocol version in common; server speaks ${supported}`,
        ),
      ];
    }
    const { db, policy } = this.deps;
    const [robot] = await inTenant(db, { tenantId: this.robot.tenantId }, (tx) =>
      tx
        .select()
        .from(schema.robots)
        .where(and(eq(schema.robots.id, this.robot.robotId), isNull(schema.robots.revokedAt))),
    );
    if (!robot) {
      this.close(RobotCloseCode.unauthorized, "unknown or revoked robot");
      return [];
    }
    this.capacity = Math.max(
      0,
      Math.min(frame.concurrency, robot.maxConcurrency, policy.wire.maxConcurrency),
    );
    this.configVersion = robot.configVersion;
    const { resumed, lost } = await resumeLeases(db, this.robot, this.id, frame.leases, {
      leaseTtlMs: policy.wire.leaseTtlMs,
      historyLimit: policy.historyLimit,
    });
    // Decisions the robot may have missed while it was away follow the welcome (looked up
    // before the session is ready, so no offer can overtake the welcome).
    const decisions = await this.deps.approvals
      .decisionsFor(
        this.robot,
        resumed.map(({ lease }) => ({ taskId: lease.taskId, epoch: lease.epoch })),
      )
      .catch(() => []);
    // The socket may have closed while we were in the database.
    if (this.isClosed) return [];
    clearTimeout(this.helloTimer);
    this.capabilities = new Set(frame.capabilities);
    for (const { lease } of resumed) this.leases.set(lease.taskId, lease.epoch);
    this.state = "ready";
    this.deps.hub.register(this);
    const welcome: WelcomeFrame = {
      type: "welcome",
      ref: frame.id,
      protocol: version,
      connectionId: this.id,
      serverTime: new Date().toISOString(),
      robot: { id: robot.id, tenantId: robot.tenantId, handle: robot.handle, name: robot.name },
      policy: { ...policy.wire, maxConcurrency: this.capacity },
      features: policy.features,
      config: { version: robot.configVersion, settings: (robot.config ?? {}) as Record<string, unknown> },
      resumed: resumed as { lease: WelcomeFrame["resumed"][number]["lease"]; task: OfferedTask }[],
      lost,
    };
    this.deps.hub.dispatchSoon(this.robot);
    return this.ok([welcome, ...decisions]);
  }
}
