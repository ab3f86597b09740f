import { spawn } from "node:child_process";

export type ProcessOutcome = {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  /** A spawn failure (e.g. ENOENT: the program is not installed). */
  spawnError?: string;
};

export type RunProcessOptions = {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  stdin?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /** Between SIGTERM and SIGKILL of the process group. */
  killGraceMs?: number;
};

function killGroup(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal);
  } catch {} // already gone
}

/**
 * Runs a program (no shell) in a process group of its own, so that a timeout or a
 * cancel kills everything it started, not only the direct child. Background processes
 * still alive when the program exits are killed too: a task leaves nothing running.
 */
export function runProcess(options: RunProcessOptions): Promise<ProcessOutcome> {
  const [program, ...args] = options.argv;
  if (!program)
    return Promise.resolve({
      code: null,
      signal: null,
      timedOut: false,
      aborted: false,
      spawnError: "empty command",
    });
  const grace = options.killGraceMs ?? 2_000;
  return new Promise((resolvePromise) => {
    let timedOut = false;
    let aborted = false;
    let settled = false;
    const child = spawn(program, args, {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const pid = child.pid;
    let killTimer: NodeJS.Timeout | undefined;
    const terminate = () => {
      if (pid === undefined) return;
      killGroup(pid, "SIGTERM");
      killTimer ??= setTimeout(() => killGroup(pid, "SIGKILL"), grace);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      terminate();
    }, options.timeoutMs);
    const onAbort = () => {
      aborted = true;
      terminate();
    };
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener("abort", onAbort);

    const finish = (outcome: Omit<ProcessOutcome, "timedOut" | "aborted">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      clearTimeout(closeTimer);
      options.signal?.removeEventListener("abort", onAbort);
      resolvePromise({ ...outcome, timedOut, aborted });
    };
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => options.onStdout?.(chunk));
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => options.onStderr?.(chunk));
    if (options.stdin !== undefined && child.stdin) {
      child.stdin.on("error", () => {}); // the program may exit without reading its input
      child.stdin.end(options.stdin);
    }
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let closeTimer: NodeJS.Timeout | undefined;
    child.on("error", (error) => finish({ code: null, signal: null, spawnError: error.message }));
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      // Leftovers of the group would keep the pipes open (and run on): kill them, then wait briefly for the pipes.
      if (pid !== undefined) killGroup(pid, "SIGKILL");
      closeTimer = setTimeout(() => finish(exit!), 1_000);
    });
    child.on("close", () => finish(exit ?? { code: child.exitCode, signal: child.signalCode }));
  });
}
