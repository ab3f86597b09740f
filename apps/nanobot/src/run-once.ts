import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type { OfferedTask } from "@perseus/contracts";
import type { ConfigFile } from "./config.js";
import { ApprovalGate, type Approver } from "./executors/approvals.js";
import { createExecutor } from "./executors/index.js";
import { createSandbox, sandboxDirFor } from "./executors/sandbox.js";
import type { ExecutionResult } from "./executors/types.js";
import type { Logger } from "./log.js";
import { type ExecutorType, mergeSettings } from "./settings.js";

export type RunOnceOptions = {
  prompt: string;
  file: ConfigFile;
  executor?: ExecutorType;
  command?: string;
  timeoutMs?: number;
  dataDir: string;
  sandboxDir?: string;
  keepSandbox: boolean;
  approver: Approver | null;
  hostEnv: Record<string, string | undefined>;
  log: Logger;
  /** Live progress (the CLI prints it on stderr). */
  onProgress: (kind: string, data: string) => void;
  signal?: AbortSignal;
};

/** Runs one prompt through the configured executor on this machine, without the platform. */
export async function runOnce(options: RunOnceOptions): Promise<ExecutionResult & { sandbox: string }> {
  const local = {
    ...options.file,
    executor: {
      ...options.file.executor,
      ...(options.executor ? { type: options.executor } : {}),
      ...(options.command ? { command: options.command } : {}),
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    },
  };
  const settings = mergeSettings({}, local, options.hostEnv);
  for (const warning of settings.warnings) options.log.warn(warning);
  if (settings.refusal) return { status: "failed", message: settings.refusal, retryable: false, sandbox: "" };
  const task: OfferedTask = {
    id: randomUUID(),
    prompt: options.prompt,
    attempt: 1,
    priority: 0,
    chatgroupId: null,
    message: null,
    history: [],
    createdAt: new Date().toISOString(),
  };
  const sandbox = await createSandbox(
    sandboxDirFor(options.sandboxDir ?? join(options.dataDir, "sandboxes"), task.id),
  );
  const executor = createExecutor(settings, { hostEnv: options.hostEnv });
  try {
    const result = await executor.run({
      task,
      sandbox,
      signal: options.signal ?? new AbortController().signal,
      progress: options.onProgress,
      log: options.log,
      approvals: new ApprovalGate(options.approver, options.log),
      taskEnv: { PERSEUS_TASK_ID: task.id },
    });
    return { ...result, sandbox: sandbox.root };
  } finally {
    if (!options.keepSandbox) await sandbox.remove().catch(() => {});
  }
}
