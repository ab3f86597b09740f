import type { Approver } from "../executors/approvals.js";
import type { Executor } from "../executors/types.js";
import type { Logger } from "../log.js";
import type { EffectiveSettings, LocalSettings } from "../settings.js";
import type { TokenSource } from "./credential.js";
import type { StopReason } from "./task-runner.js";
import type { TransportKind } from "./transport.js";

/** The client cannot go on: the exit code tells a supervisor not to restart it blindly. */
export class FatalClientError extends Error {
  override name = "FatalClientError";
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export type ClientEvent =
  | { type: "connected"; transport: TransportKind; robot: { id: string; handle: string; tenantId: string } }
  | { type: "disconnected"; code: number; reason: string }
  | { type: "task-started"; taskId: string; epoch: number }
  | { type: "task-finished"; taskId: string; outcome: "succeeded" | "failed" | StopReason }
  | { type: "result-acked"; key: string }
  | { type: "offer-rejected"; taskId: string; reason: string };

export type RobotClientOptions = {
  platformUrl: string;
  tokens: TokenSource;
  transport: "ws" | "poll" | "auto";
  concurrency: number;
  /** Holds the outbox, the lock and (by default) the task sandboxes. */
  dataDir: string;
  sandboxRoot?: string;
  localSettings: LocalSettings;
  hostEnv: Record<string, string | undefined>;
  /** Who approves dangerous commands: "platform" asks an owner or admin through the connection. */
  approver: Approver | "platform" | null;
  /** With the platform approver: how long a person has to answer (default 5 minutes). */
  approvalTimeoutMs?: number;
  log: Logger;
  agent?: { name: string; version: string };
  fetchImpl?: typeof fetch;
  /** How long running tasks may take to finish on shutdown before their leases are released. */
  shutdownGraceMs?: number;
  backoff?: { baseMs?: number; maxMs?: number };
  onEvent?: (event: ClientEvent) => void;
  /** Tests only: kill this process at a point of the result path, to prove the outbox. */
  crashAt?: "result-written" | "result-sent";
  executorFactory?: (settings: EffectiveSettings) => Executor;
};
