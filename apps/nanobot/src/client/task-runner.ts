import type { Lease, OfferedTask, ProgressKind } from "@perseus/contracts";
import type { ApprovalGate } from "../executors/approvals.js";
import { createSandbox, type Sandbox, sandboxDirFor } from "../executors/sandbox.js";
import type { ExecutionResult, Executor } from "../executors/types.js";
import type { Logger } from "../log.js";
import { startProgressSocket } from "../mcp/progress-socket.js";
import { startTaskMcp } from "../mcp/task-mcp.js";

export type StopReason = "cancel" | "lost" | "shutdown";

export type RunningTask = {
  task: OfferedTask;
  lease: Lease;
  stopReason: StopReason | null;
  /** Stops the work: the executor kills its process group. */
  stop(reason: StopReason): void;
  /** Resolves when the executor returned and buffered progress was flushed. */
  done: Promise<ExecutionResult>;
};

const FLUSH_MS = 150;
const MAX_CHUNK = 16_000;

/**
 * Runs one task in its sandbox with its executor. Output is coalesced per kind for
 * ~150 ms before it becomes a progress frame, so a chatty process cannot flood the link.
 */
export function runTask(options: {
  task: OfferedTask;
  lease: Lease;
  executor: Executor;
  sandboxRoot: string;
  keepSandbox: boolean;
  approvals: ApprovalGate;
  platformUrl: string;
  log: Logger;
  emitProgress(kind: ProgressKind, data: string): void;
}): RunningTask {
  const { task, log } = options;
  const controller = new AbortController();
  let buffer: { kind: ProgressKind; data: string }[] = [];
  let timer: NodeJS.Timeout | null = null;

  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    const chunks = buffer;
    buffer = [];
    let current: { kind: ProgressKind; data: string } | null = null;
    for (const chunk of chunks) {
      if (current && current.kind === chunk.kind && current.data.length + chunk.data.length <= MAX_CHUNK) {
        current.data += chunk.data;
        continue;
      }
      if (current) options.emitProgress(current.kind, current.data);
      current = { ...chunk };
    }
    if (current) options.emitProgress(current.kind, current.data);
  };
  const progress = (kind: ProgressKind, data: string) => {
    if (!data || controller.signal.aborted) return;
    for (let i = 0; i < data.length; i += MAX_CHUNK)
      buffer.push({ kind, data: data.slice(i, i + MAX_CHUNK) });
    timer ??= setTimeout(flush, FLUSH_MS);
  };

  const running: RunningTask = {
    task,
    lease: options.lease,
    stopReason: null,
    stop(reason) {
      running.stopReason ??= reason;
      controller.abort();
    },
    done: Promise.resolve({ status: "failed", message: "not started", retryable: true }),
  };
  running.done = (async (): Promise<ExecutionResult> => {
    let sandbox: Sandbox;
    try {
      sandbox = await createSandbox(sandboxDirFor(options.sandboxRoot, task.id));
    } catch (error) {
      return {
        status: "failed",
        message: `cannot create the sandbox: ${(error as Error).message}`,
        retryable: true,
      };
    }
    const socket = await startProgressSocket(progress).catch((error) => {
      log.debug("progress socket unavailable", { error: (error as Error).message });
      return null;
    });
    const taskEnv: Record<string, string> = {
      PERSEUS_URL: options.platformUrl,
      PERSEUS_TASK_ID: task.id,
      PERSEUS_TASK_EPOCH: String(running.lease.epoch),
      PERSEUS_TASK_TOKEN: running.lease.taskToken,
      ...(task.chatgroupId ? { PERSEUS_CHATGROUP_ID: task.chatgroupId } : {}),
      ...(socket ? { PERSEUS_PROGRESS_SOCKET: socket.path } : {}),
    };
    // Agent CLIs (the command executor) may reach the task's MCP tools by URL, too.
    const mcp =
      options.executor.type === "command"
        ? await startTaskMcp(taskEnv, (message) => progress("status", message), log)
        : null;
    try {
      return await options.executor.run({
        task,
        sandbox,
        signal: controller.signal,
        progress,
        log,
        approvals: options.approvals,
        taskEnv: { ...taskEnv, ...mcp?.env },
      });
    } catch (error) {
      log.error("executor crashed", { taskId: task.id, error: (error as Error).message });
      return { status: "failed", message: `executor error: ${(error as Error).message}`, retryable: true };
    } finally {
      flush();
      await socket?.close();
      await mcp?.close();
      if (!options.keepSandbox) await sandbox.remove().catch(() => {});
    }
  })();
  return running;
}
