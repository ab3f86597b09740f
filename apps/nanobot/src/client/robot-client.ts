import { randomUUID } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import {
  type Capability,
  Lease,
  type OfferedTask,
  ROBOT_PROTOCOL_MIN_VERSION,
  ROBOT_PROTOCOL_VERSION,
  type RobotClientFrame,
  RobotCloseCode,
  type RobotPolicy,
  type RobotServerFrame,
} from "@perseus/contracts";
import { z } from "zod";
import { ApprovalGate } from "../executors/approvals.js";
import type { Logger } from "../log.js";
import { type EffectiveSettings, mergeSettings, parseCentralSettings } from "../settings.js";
import { type Backoff, createBackoff } from "./backoff.js";
import { Channel, FrameError, NotAcknowledged } from "./channel.js";
import { CredentialRefusedError } from "./credential.js";
import { acquireLock } from "./lock.js";
import { Outbox } from "./outbox.js";
import { createPlatformApprover } from "./platform-approver.js";
import { loadPty, Terminals } from "./terminals.js";
import {
  ConnectError,
  connectLongPoll,
  connectWebSocket,
  type Transport,
  type TransportKind,
} from "./transport.js";
import { type ClientEvent, FatalClientError, type RobotClientOptions } from "./types.js";
import { Work } from "./work.js";

export { type ClientEvent, FatalClientError, type RobotClientOptions };

/** Lenient on purpose: an older gateway may leave out fields a newer one adds. */
const HeartbeatAck = z.object({
  leases: z
    .array(
      z.object({
        taskId: z.string(),
        epoch: z.number(),
        expiresAt: z.string().nullable(),
        cancelRequested: z.boolean().optional(),
      }),
    )
    .default([]),
});

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

/**
 * The reference robot client: exchanges its credential, dials the gateway, runs offered
 * tasks with the configured executor, and survives network drops and restarts without
 * losing results (durable outbox, replay on reconnect, idempotency keys).
 */
export class RobotClient {
  private readonly opts: RobotClientOptions;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly approvals: ApprovalGate;
  private readonly platformApprover: ReturnType<typeof createPlatformApprover> | null = null;
  /** What the connected platform announced in its welcome. */
  private features = new Set<string>();
  private readonly stopSignal = new AbortController();
  private outbox!: Outbox;
  private channel: Channel | null = null;
  private policy: RobotPolicy | null = null;
  private settings: EffectiveSettings;
  private accepting = 0;
  private frameCounter = 0;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private resendTimer: NodeJS.Timeout | null = null;
  private wsFailures = 0;
  /** auto mode: after WebSocket dials keep failing, long-poll is used until then (and WebSocket tried again). */
  private pollUntil = 0;
  private stopping = false;
  private graceMs: number;
  private work!: Work;
  private terminals!: Terminals;

  constructor(options: RobotClientOptions) {
    this.opts = options;
    this.log = options.log;
    this.backoff = createBackoff(options.backoff);
    if (options.approver === "platform") {
      this.platformApprover = createPlatformApprover({
        channel: () => this.channel,
        epochOf: (taskId) => this.work?.active.get(taskId)?.lease.epoch ?? null,
        isSupported: () => this.features.has("approvals"),
        nextId: (prefix) => this.nextId(prefix),
        log: options.log,
        timeoutMs: options.approvalTimeoutMs ?? 300_000,
      });
    }
    this.approvals = new ApprovalGate(
      options.approver === "platform" ? this.platformApprover : options.approver,
      options.log,
    );
    this.settings = mergeSettings({}, options.localSettings, options.hostEnv);
    this.graceMs = options.shutdownGraceMs ?? 10_000;
  }

  get activeTasks() {
    return [...this.work.active.keys()];
  }

  /** Runs until stop() (resolves) or a fatal condition (rejects with FatalClientError). */
  async run(): Promise<void> {
    await mkdir(this.opts.dataDir, { recursive: true, mode: 0o700 });
    const releaseLock = await acquireLock(join(this.opts.dataDir, "nanobot.lock"));
    this.outbox = await Outbox.open(join(this.opts.dataDir, "outbox.jsonl"));
    this.work = new Work({
      ...this.opts,
      log: this.log,
      approvals: this.approvals,
      outbox: this.outbox,
      channel: () => this.channel,
      settings: () => this.settings,
      nextId: (prefix) => this.nextId(prefix),
      onEvent: this.opts.onEvent,
    });
    const terminal = this.opts.localSettings.terminal;
    const { pty, reason } = terminal?.enabled ? await loadPty() : { pty: null, reason: null };
    if (terminal?.enabled && !pty)
      this.log.warn("terminals are enabled in the config but node-pty is not available: terminals are off", {
        reason,
      });
    this.terminals = new Terminals({
      pty,
      terminal,
      settings: () => this.settings,
      sandboxRoot: this.opts.sandboxRoot ?? join(this.opts.dataDir, "sandboxes"),
      hostEnv: this.opts.hostEnv,
      channel: () => this.channel,
      nextId: (prefix) => this.nextId(prefix),
      log: this.log,
    });
    if (this.outbox.size)
      this.log.info("outbox holds unacknowledged results from before; they will be replayed", {
        count: this.outbox.size,
      });
    try {
      await this.connectLoop();
    } finally {
      this.terminals.closeAll("shutdown");
      for (const task of this.work.active.values()) task.stop("shutdown");
      await Promise.allSettled([...this.work.active.values()].map((t) => t.done));
      await this.outbox.close();
      await releaseLock();
    }
  }

  /** Graceful shutdown: no new offers, finish within the grace period or release, flush the outbox, close 1000. */
  async stop(options: { immediate?: boolean } = {}): Promise<void> {
    if (options.immediate) this.graceMs = 0;
    if (this.stopping) return;
    this.stopping = true;
    this.log.info("shutting down: no new offers", { running: this.work.active.size, graceMs: this.graceMs });
    const deadline = Date.now() + this.graceMs;
    while (this.work.active.size && Date.now() < deadline && this.graceMs > 0)
      await new Promise((r) => setTimeout(r, 100));
    for (const task of this.work.active.values()) task.stop("shutdown");
    await Promise.allSettled([...this.work.active.values()].map((t) => t.done));
    await new Promise((r) => setTimeout(r, 0)); // let the finished tasks queue their frames
    const flushDeadline = Date.now() + 5_000;
    while (this.channel && this.outbox.size && Date.now() < flushDeadline)
      await new Promise((r) => setTimeout(r, 50));
    if (this.outbox.size)
      this.log.warn("stopping with unacknowledged results; they are replayed on the next start", {
        count: this.outbox.size,
      });
    this.stopSignal.abort();
    this.channel?.close(RobotCloseCode.normal, "robot shutting down");
  }

  // ---- connection ----------------------------------------------------------

  private chooseTransport(): TransportKind {
    if (this.opts.transport !== "auto") return this.opts.transport;
    // Two WebSocket failures in a row (not auth): the network probably breaks WebSockets.
    return Date.now() < this.pollUntil ? "poll" : "ws";
  }

  private async connectLoop() {
    let unauthorizedStreak = 0;
    while (!this.stopping) {
      let delay: number;
      const kind = this.chooseTransport();
      try {
        const { code, reason, welcomedAt } = await this.connectOnce(kind);
        if (this.stopping) break;
        if (kind === "ws") this.wsFailures = 0;
        if (welcomedAt && Date.now() - welcomedAt > 30_000) this.backoff.reset();
        this.log.warn("disconnected", { code, reason: reason || undefined });
        this.opts.onEvent?.({ type: "disconnected", code, reason });
        if (code === RobotCloseCode.unsupportedVersion) {
          throw new FatalClientError(
            `the platform speaks no protocol version this nanobot knows (${reason}); upgrade the nanobot`,
            3,
          );
        }
        if (code === RobotCloseCode.replaced) {
          throw new FatalClientError(
            "another connection of this robot replaced this one (is a second nanobot running with the same credential?)",
            4,
          );
        }
        if (code === RobotCloseCode.unauthorized || code === RobotCloseCode.tokenExpired) {
          // A fresh exchange: refused for good means the credential is revoked (fatal, see below).
          this.opts.tokens.invalidate();
          delay = unauthorizedStreak++ === 0 ? 0 : this.backoff.next();
        } else {
          unauthorizedStreak = 0;
          delay = this.backoff.next();
        }
      } catch (error) {
        if (error instanceof FatalClientError) throw error;
        if (error instanceof CredentialRefusedError) throw new FatalClientError(error.message, 2);
        if (error instanceof ConnectError && error.unauthorized) {
          this.opts.tokens.invalidate();
          delay = unauthorizedStreak++ === 0 ? 0 : this.backoff.next();
        } else {
          if (kind === "ws" && error instanceof ConnectError && ++this.wsFailures >= 2) {
            this.pollUntil = Date.now() + 5 * 60_000;
            this.wsFailures = 0;
            if (this.opts.transport === "auto")
              this.log.warn("WebSocket keeps failing: using long-poll for 5 minutes");
          }
          delay = this.backoff.next();
        }
        this.log.warn("cannot connect", {
          transport: kind,
          error: (error as Error).message,
          retryInMs: delay,
        });
      }
      if (!this.stopping && delay > 0) await sleep(delay, this.stopSignal.signal);
    }
  }

  /** One connection from dial to close. Resolves with the close code. */
  private async connectOnce(
    kind: TransportKind,
  ): Promise<{ code: number; reason: string; welcomedAt: number | null }> {
    const { token } = await this.opts.tokens.get();
    let onClosed!: (value: { code: number; reason: string }) => void;
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      onClosed = resolve;
    });
    let welcome: ((frame: Extract<RobotServerFrame, { type: "welcome" }>) => void) | null = null;
    const handlers = {
      onFrame: (frame: RobotServerFrame) => {
        if (this.work.frozen) return;
        if (frame.type === "welcome") {
          this.channel?.settle(frame.ref, { result: {} }); // the hello's answer
          welcome?.(frame);
        } else this.handleFrame(frame);
      },
      onClose: (code: number, reason: string) => {
        this.channel?.fail(`connection closed (${code})`);
        onClosed({ code, reason });
      },
    };
    const transport: Transport =
      kind === "ws"
        ? await connectWebSocket({ baseUrl: this.opts.platformUrl, token, handlers, log: this.log })
        : await connectLongPoll({
            baseUrl: this.opts.platformUrl,
            tokens: this.opts.tokens,
            handlers,
            log: this.log,
            fetchImpl: this.opts.fetchImpl,
          });
    const channel = new Channel(transport, { framesPerSecond: 20, maxFrameBytes: 1_000_000 });
    this.channel = channel;
    if (this.stopping) channel.close(RobotCloseCode.normal, "robot shutting down"); // stop() came while dialling
    let welcomedAt: number | null = null;
    try {
      const hello = this.nextId("hello");
      const greeted = new Promise<Extract<RobotServerFrame, { type: "welcome" }>>((resolve, reject) => {
        welcome = resolve;
        channel.request(this.helloFrame(hello), 15_000).catch((error) => {
          if (error instanceof FrameError) reject(error); // an error frame instead of a welcome
        });
        setTimeout(() => reject(new Error("no welcome within 15 s")), 15_000).unref();
        closed.then(({ code, reason }) =>
          reject(Object.assign(new Error(`closed before welcome: ${code} ${reason}`), { code })),
        );
      });
      const frame = await Promise.race([greeted, closed.then(() => null)]);
      if (frame) {
        welcomedAt = Date.now();
        await this.onWelcome(frame, channel);
      }
    } catch (error) {
      this.log.warn("handshake failed", { error: (error as Error).message });
      channel.close(RobotCloseCode.protocolError, "handshake failed");
      if (error instanceof FrameError && error.code === "unsupported_version") {
        await closed;
        this.channel = null;
        throw new FatalClientError(
          `the platform speaks no protocol version this nanobot knows (${error.message}); upgrade the nanobot`,
          3,
        );
      }
    }
    const result = await closed;
    this.channel = null;
    this.terminals.closeAll("connection closed");
    this.stopTimers();
    return { ...result, welcomedAt };
  }

  private helloFrame(id: string): RobotClientFrame {
    return {
      type: "hello",
      id,
      protocol: { min: ROBOT_PROTOCOL_MIN_VERSION, max: ROBOT_PROTOCOL_VERSION },
      agent: this.opts.agent ?? { name: "perseus-nanobot", version: "0.1.0" },
      capabilities: this.capabilities(),
      concurrency: Math.max(1, Math.min(64, this.opts.concurrency)),
      leases: this.work.heldLeases(),
    };
  }

  private capabilities(): Capability[] {
    const type = this.settings.executor.type;
    const base: Capability[] =
      type === "agent"
        ? ["agent", "shell", "fs", "mcp"]
        : type === "command"
          ? ["command", "shell", "mcp"]
          : ["shell"];
    return this.terminals.isAvailable ? [...base, "terminal"] : base;
  }

  /** Live-terminal counters (how much output waited on this side at most). */
  get terminalStats() {
    return this.terminals.stats;
  }

  private async onWelcome(frame: Extract<RobotServerFrame, { type: "welcome" }>, channel: Channel) {
    this.policy = frame.policy;
    this.features = new Set(frame.features);
    channel.updateLimits({
      framesPerSecond: Math.max(1, Math.floor(frame.policy.maxFramesPerSecond * 0.8)),
      maxFrameBytes: frame.policy.maxFrameBytes,
    });
    this.applyConfig(frame.config);
    this.log.info("connected", {
      transport: channel.kind,
      robot: `@${frame.robot.handle}`,
      tenant: frame.robot.tenantId,
      protocol: frame.protocol,
      configVersion: frame.config.version,
    });
    this.opts.onEvent?.({ type: "connected", transport: channel.kind, robot: frame.robot });
    for (const lost of frame.lost) this.work.stopTask(lost.taskId, lost.epoch, "lost");
    for (const { lease, task } of frame.resumed) {
      const running = this.work.active.get(task.id);
      if (running && running.lease.epoch === lease.epoch) {
        running.lease = lease;
      } else if (!this.work.outboxHolds(task.id, lease.epoch)) {
        // A lease from before a restart whose work died with the old process: give it back now.
        this.log.info("releasing a lease whose work did not survive a restart", { taskId: task.id });
        channel
          .request({ type: "release", id: this.nextId("rel"), taskId: task.id, epoch: lease.epoch })
          .catch(() => {});
      }
    }
    this.startTimers(channel, frame.policy.heartbeatIntervalMs);
    this.work.replay();
  }

  private startTimers(channel: Channel, intervalMs: number) {
    this.stopTimers();
    const every = Math.max(1_000, intervalMs);
    this.heartbeatTimer = setInterval(() => this.heartbeat(channel, every), every);
    // Results not acknowledged within a while are sent again on the same connection.
    this.resendTimer = setInterval(() => this.work.replay(20_000), 20_000);
  }

  private stopTimers() {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.resendTimer) clearInterval(this.resendTimer);
    this.heartbeatTimer = this.resendTimer = null;
  }

  private heartbeat(channel: Channel, intervalMs: number) {
    const leases = [...this.work.active.values()].map((t) => ({ taskId: t.task.id, epoch: t.lease.epoch }));
    channel
      .request({ type: "heartbeat", id: this.nextId("hb"), leases }, Math.max(intervalMs, 10_000))
      .then((result) => {
        for (const item of HeartbeatAck.parse(result).leases) {
          const running = this.work.active.get(item.taskId);
          if (!running || running.lease.epoch !== item.epoch) continue;
          if (item.expiresAt === null) this.work.stopTask(item.taskId, item.epoch, "lost");
          else if (item.cancelRequested) this.work.stopTask(item.taskId, item.epoch, "cancel");
          else running.lease = { ...running.lease, expiresAt: item.expiresAt };
        }
      })
      .catch((error) => {
        if (
          error instanceof NotAcknowledged &&
          this.channel === channel &&
          channel.isOpen &&
          !this.stopping
        ) {
          this.log.warn("heartbeat unanswered: reconnecting", { error: error.message });
          channel.close(RobotCloseCode.protocolError, "heartbeat timeout");
        } else if (error instanceof FrameError) {
          this.log.warn("heartbeat refused", { error: error.message });
        }
      });
  }

  // ---- server frames ---------------------------------------------------------

  private handleFrame(frame: RobotServerFrame) {
    switch (frame.type) {
      case "ack":
        this.channel?.settle(frame.ref, { result: frame.result });
        return;
      case "error":
        if (!this.channel?.settle(frame.ref, { error: new FrameError(frame.code, frame.message) })) {
          this.log.warn("server error", { code: frame.code, message: frame.message });
        }
        return;
      case "offer":
        void this.onOffer(frame.offerId, frame.task, frame.expiresAt);
        return;
      case "cancel":
        this.log.info("task cancelled by the platform", { taskId: frame.taskId, reason: frame.reason });
        if (!this.work.stopTask(frame.taskId, frame.epoch, "cancel")) {
          // Not running here (finished or never started): confirm anyway so the task can end.
          void this.work.sendDurable(`cancelled:${frame.taskId}:${frame.epoch}`, {
            type: "cancelled",
            id: this.nextId("cx"),
            taskId: frame.taskId,
            epoch: frame.epoch,
          });
        }
        return;
      case "lease_lost":
        this.log.warn("lease lost: stopping the task", { taskId: frame.taskId, reason: frame.reason });
        this.work.stopTask(frame.taskId, frame.epoch, "lost");
        return;
      case "config":
        this.applyConfig(frame.config);
        return;
      case "approval.decided":
        if (this.platformApprover) this.platformApprover.onDecided(frame);
        else this.log.info("ignoring an approval decision: the platform approver is not in use");
        return;
      case "terminal.open":
        void this.terminals.open(frame);
        return;
      case "terminal.input":
        this.terminals.input(frame);
        return;
      case "terminal.resize":
        this.terminals.resize(frame);
        return;
      case "terminal.close":
        this.terminals.close(frame);
        return;
      case "welcome":
        return;
    }
  }

  private applyConfig(config: { version: number; settings: Record<string, unknown> }) {
    const { settings, problems } = parseCentralSettings(config.settings);
    for (const problem of problems) this.log.warn("ignoring part of the central config", { problem });
    this.settings = mergeSettings(settings, this.opts.localSettings, this.opts.hostEnv);
    for (const warning of this.settings.warnings) this.log.warn(warning);
    this.log.info("config applied", { version: config.version, executor: this.settings.executor.type });
  }

  private capacity() {
    return Math.max(
      0,
      Math.min(this.opts.concurrency, this.policy?.maxConcurrency ?? 64, this.settings.maxConcurrency ?? 64),
    );
  }

  private async onOffer(offerId: string, task: OfferedTask, expiresAt: string) {
    const channel = this.channel;
    if (!channel) return;
    let reason: string | null = null;
    if (this.stopping) reason = "robot is shutting down";
    else if (this.settings.refusal) reason = this.settings.refusal;
    else if (this.work.active.size + this.accepting >= this.capacity())
      reason = "robot is at its concurrency limit";
    else if (this.work.active.has(task.id)) reason = "task already running here";
    if (reason) {
      this.opts.onEvent?.({ type: "offer-rejected", taskId: task.id, reason });
      channel
        .request({ type: "reject", id: this.nextId("rj"), taskId: task.id, offerId, reason })
        .catch(() => {});
      return;
    }
    if (Date.parse(expiresAt) < Date.now() - 5_000) return; // clocks differ; the server decides anyway
    this.accepting++;
    try {
      const result = await channel.request({
        type: "accept",
        id: this.nextId("acc"),
        taskId: task.id,
        offerId,
      });
      const lease = Lease.parse(result.lease);
      this.work.startTask(task, lease);
    } catch (error) {
      this.log.info("offer not taken", { taskId: task.id, error: (error as Error).message });
    } finally {
      this.accepting--;
    }
  }

  private nextId(prefix: string) {
    this.frameCounter = (this.frameCounter + 1) % 1e9;
    return `${prefix}-${this.frameCounter}-${randomUUID().slice(0, 8)}`;
  }
}
