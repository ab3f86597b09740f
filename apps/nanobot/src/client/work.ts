import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type {
  Lease,
  LeaseRef,
  OfferedTask,
  ProgressKind,
  RobotClientFrame,
  TraceContext,
} from "@perseus/contracts";
import {
  SpanKind,
  SpanStatusCode,
  spanCarrier,
  startSpan,
  traceLogFields,
  withContext,
} from "@perseus/tracing";
import type { ApprovalGate } from "../executors/approvals.js";
import { createExecutor } from "../executors/index.js";
import type { Logger } from "../log.js";
import type { EffectiveSettings } from "../settings.js";
import { type Channel, FrameError, isPermanent } from "./channel.js";
import type { Outbox, OutboxEntry } from "./outbox.js";
import { type RunningTask, runTask, type StopReason } from "./task-runner.js";
import type { ClientEvent, RobotClientOptions } from "./types.js";

export type WorkDeps = Pick<
  RobotClientOptions,
  "executorFactory" | "hostEnv" | "fetchImpl" | "sandboxRoot" | "dataDir" | "platformUrl" | "crashAt"
> & {
  log: Logger;
  approvals: ApprovalGate;
  outbox: Outbox;
  /** The current connection, if any: results wait in the outbox while there is none. */
  channel(): Channel | null;
  settings(): EffectiveSettings;
  nextId(prefix: string): string;
  onEvent?: (event: ClientEvent) => void;
};

/**
 * The robot's running tasks and the result path: each task's outcome becomes a durable
 * frame (outbox first, then the wire), acknowledged frames leave the outbox, and frames
 * refused for good are dropped. Progress is numbered per task and epoch.
 */
export class Work {
  readonly active = new Map<string, RunningTask>();
  private readonly inFlight = new Set<string>();
  private readonly progressSeq = new Map<string, number>();
  /** Tests only (crashAt): set once acks must no longer be processed. */
  frozen = false;

  constructor(private readonly deps: WorkDeps) {}

  /** Leases to name in hello: running tasks, and tasks whose result still waits in the outbox. */
  heldLeases(): LeaseRef[] {
    const leases = new Map<string, LeaseRef>();
    for (const task of this.active.values())
      leases.set(task.task.id, { taskId: task.task.id, epoch: task.lease.epoch });
    for (const { frame } of this.deps.outbox.pending()) {
      if ("epoch" in frame && "taskId" in frame && !leases.has(frame.taskId)) {
        leases.set(frame.taskId, { taskId: frame.taskId, epoch: frame.epoch });
      }
    }
    return [...leases.values()].slice(0, 64);
  }

  /** Whether the outbox holds a frame of this task and epoch (its result survived a restart). */
  outboxHolds(taskId: string, epoch: number) {
    return this.deps.outbox
      .pending()
      .some(
        (e) =>
          "taskId" in e.frame && e.frame.taskId === taskId && "epoch" in e.frame && e.frame.epoch === epoch,
      );
  }

  /** Sends every frame still waiting for its ack (after a reconnect, or those unanswered for a while). */
  replay(olderThanMs = 0) {
    for (const entry of this.deps.outbox.pending())
      if (Date.now() - entry.createdAt >= olderThanMs) this.deliver(entry);
  }

  startTask(task: OfferedTask, lease: Lease) {
    const settings = this.deps.settings();
    const executor = (
      this.deps.executorFactory ??
      ((s) => createExecutor(s, { hostEnv: this.deps.hostEnv, fetchImpl: this.deps.fetchImpl }))
    )(settings);
    // With tracing on, the run is a span continuing the platform's trace of the task (or a new
    // trace); its context goes back with every progress and result frame.
    const run = startSpan("task run", {
      kind: SpanKind.CONSUMER,
      parent: task.trace ?? null,
      attributes: {
        "perseus.task_id": task.id,
        "perseus.epoch": lease.epoch,
        "perseus.attempt": task.attempt,
      },
    });
    const trace = spanCarrier(run?.span);
    const log = this.deps.log.child({ taskId: task.id, ...traceLogFields(run?.context) });
    log.info("task started", { epoch: lease.epoch, executor: executor.type, attempt: task.attempt });
    this.deps.onEvent?.({ type: "task-started", taskId: task.id, epoch: lease.epoch });
    const running: RunningTask = withContext(run?.context, () =>
      runTask({
        task,
        lease,
        executor,
        sandboxRoot: this.deps.sandboxRoot ?? join(this.deps.dataDir, "sandboxes"),
        keepSandbox: settings.keepSandboxes,
        approvals: this.deps.approvals,
        platformUrl: this.deps.platformUrl,
        log,
        emitProgress: (kind, data) => this.emitProgress(running, kind, data, settings.durableProgress, trace),
      }),
    );
    this.active.set(task.id, running);
    void running.done.then(async (result) => {
      const { epoch } = running.lease;
      const reason = running.stopReason;
      if (run) {
        run.span.setAttribute("perseus.outcome", reason ?? result.status);
        if (reason === null && result.status === "failed")
          run.span.setStatus({ code: SpanStatusCode.ERROR, message: result.message.slice(0, 500) });
        run.span.end();
      }
      try {
        if (reason === "cancel") {
          await this.sendDurable(`cancelled:${task.id}:${epoch}`, {
            type: "cancelled",
            id: this.deps.nextId("cx"),
            taskId: task.id,
            epoch,
          });
        } else if (reason === "shutdown") {
          await this.deps
            .channel()
            ?.request({ type: "release", id: this.deps.nextId("rel"), taskId: task.id, epoch }, 5_000)
            .catch(() => {});
        } else if (reason === null && result.status === "succeeded") {
          const key = `complete:${task.id}:${epoch}:${randomUUID()}`;
          await this.sendDurable(key, {
            type: "complete",
            id: this.deps.nextId("res"),
            taskId: task.id,
            epoch,
            idempotencyKey: key,
            result: result.result,
            ...(trace ? { trace } : {}),
          });
        } else if (reason === null && result.status === "failed") {
          const key = `fail:${task.id}:${epoch}:${randomUUID()}`;
          await this.sendDurable(key, {
            type: "fail",
            id: this.deps.nextId("res"),
            taskId: task.id,
            epoch,
            idempotencyKey: key,
            error: { message: result.message, retryable: result.retryable },
            ...(trace ? { trace } : {}),
          });
        }
      } catch (error) {
        log.error("could not record the result", { error: (error as Error).message });
      }
      this.active.delete(task.id);
      this.progressSeq.delete(`${task.id}:${epoch}`);
      const outcome = reason ?? result.status;
      log.info("task finished", { outcome });
      this.deps.onEvent?.({ type: "task-finished", taskId: task.id, outcome });
    });
  }

  stopTask(taskId: string, epoch: number, reason: StopReason): boolean {
    const running = this.active.get(taskId);
    if (!running || running.lease.epoch !== epoch) return false;
    running.stop(reason);
    return true;
  }

  private emitProgress(
    running: RunningTask,
    kind: ProgressKind,
    data: string,
    durable: boolean,
    trace: TraceContext | undefined,
  ) {
    if (running.stopReason) return;
    const key = `${running.task.id}:${running.lease.epoch}`;
    const seq = (this.progressSeq.get(key) ?? 0) + 1;
    this.progressSeq.set(key, seq);
    const frame: RobotClientFrame = {
      type: "progress",
      id: this.deps.nextId("p"),
      taskId: running.task.id,
      epoch: running.lease.epoch,
      seq,
      kind,
      data,
      ...(trace ? { trace } : {}),
    };
    if (durable) {
      void this.sendDurable(`progress:${key}:${seq}`, frame);
      return;
    }
    // Progress is best effort: dropped while disconnected, and a refusal means the lease is gone.
    this.deps
      .channel()
      ?.request(frame)
      .catch((error) => {
        if (error instanceof FrameError && (error.code === "stale_epoch" || error.code === "lease_expired")) {
          this.stopTask(running.task.id, running.lease.epoch, "lost");
        }
      });
  }

  /** Write-ahead: the frame is fsynced to the outbox before it is sent; it leaves the outbox on its ack. */
  async sendDurable(key: string, frame: RobotClientFrame) {
    await this.deps.outbox.put(key, frame);
    if (this.deps.crashAt === "result-written" && frame.type !== "progress")
      process.kill(process.pid, "SIGKILL");
    const entry = this.deps.outbox.pending().find((e) => e.key === key);
    if (entry) this.deliver(entry);
    if (this.deps.crashAt === "result-sent" && frame.type !== "progress") {
      this.frozen = true; // acks are no longer processed: the crash lands between send and ack
      setTimeout(() => process.kill(process.pid, "SIGKILL"), 200);
    }
  }

  deliver(entry: OutboxEntry) {
    const channel = this.deps.channel();
    if (!channel || this.inFlight.has(entry.key)) return;
    this.inFlight.add(entry.key);
    channel
      .request(entry.frame)
      .then(async (result) => {
        await this.deps.outbox.ack(entry.key);
        if (entry.frame.type !== "progress") {
          this.deps.log.info("result acknowledged", {
            key: entry.key,
            duplicate: result.duplicate === true,
            status: result.status,
          });
        }
        this.deps.onEvent?.({ type: "result-acked", key: entry.key });
      })
      .catch(async (error) => {
        if (isPermanent(error)) {
          this.deps.log.warn("the platform refused a stored frame for good; dropping it", {
            key: entry.key,
            error: (error as Error).message,
          });
          await this.deps.outbox.ack(entry.key);
        }
      })
      .finally(() => this.inFlight.delete(entry.key));
  }
}
