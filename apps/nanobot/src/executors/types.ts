import type { OfferedTask, ProgressKind, TaskResult } from "@perseus/contracts";
import type { Logger } from "../log.js";
import type { ApprovalGate } from "./approvals.js";
import type { Sandbox } from "./sandbox.js";

export type ExecutionContext = {
  task: OfferedTask;
  sandbox: Sandbox;
  /** Aborted on cancel, lease loss, shutdown: stop at once. */
  signal: AbortSignal;
  /** Streams a progress update (coalesced and rate-limited by the client). */
  progress(kind: ProgressKind, data: string): void;
  log: Logger;
  approvals: ApprovalGate;
  /** Extra environment for processes of this task (task token, platform URL, progress socket). */
  taskEnv: Record<string, string>;
};

export type ExecutionResult =
  | { status: "succeeded"; result: TaskResult }
  | { status: "failed"; message: string; retryable: boolean };

export type Executor = {
  type: "shell" | "command" | "agent";
  run(context: ExecutionContext): Promise<ExecutionResult>;
  /** Programs this executor needs on the PATH (checked by `doctor`). */
  requiredPrograms(): string[];
};
