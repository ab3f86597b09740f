import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { OfferedTask, ProgressKind } from "@perseus/contracts";
import { ApprovalGate, type Approver } from "../src/executors/approvals.js";
import { createSandbox, type Sandbox } from "../src/executors/sandbox.js";
import type { ExecutionContext } from "../src/executors/types.js";
import { silentLogger } from "../src/log.js";

export const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
export const CLI = join(APP_DIR, "src", "cli.ts");
/** How tests run the nanobot's TypeScript sources as a real process. */
export const NODE_ARGS = ["--conditions=@perseus/source", "--import", "tsx"];

export function tempDir(prefix = "nanobot-test-") {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function makeTask(prompt: string, overrides: Partial<OfferedTask> = {}): OfferedTask {
  return {
    id: randomUUID(),
    prompt,
    attempt: 1,
    priority: 0,
    chatgroupId: null,
    message: null,
    history: [],
    createdAt: new Date().toISOString(),
    ...overrides,
  };
}

export type Recorded = { kind: ProgressKind; data: string }[];

/** An execution context over a fresh sandbox in `root`, recording progress. */
export async function makeContext(
  root: string,
  prompt: string,
  options: { approver?: Approver | null; signal?: AbortSignal; gate?: ApprovalGate } = {},
): Promise<{ context: ExecutionContext; progress: Recorded; sandbox: Sandbox }> {
  const task = makeTask(prompt);
  const sandbox = await createSandbox(join(root, task.id));
  const progress: Recorded = [];
  const context: ExecutionContext = {
    task,
    sandbox,
    signal: options.signal ?? new AbortController().signal,
    progress: (kind, data) => progress.push({ kind, data }),
    log: silentLogger,
    approvals: options.gate ?? new ApprovalGate(options.approver ?? null, silentLogger),
    taskEnv: {},
  };
  return { context, progress, sandbox };
}

/** Whether a pid names a live (non-zombie) process. */
export { isPidAlive } from "@perseus/testing";
