import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { inheritedEnvironment } from "./config.js";

/** url: polled until it answers HTTP 200. line: matched against each complete stdout/stderr line. */
export type ReadyCheck = { url?: string; line?: RegExp };

export type StartProcessOptions = {
  name: string;
  command: string;
  args?: string[];
  /** Added to the parent's environment; an `undefined` value removes a variable. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as another OS user (needs root): Postgres refuses to run as root. */
  uid?: number;
  gid?: number;
  ready?: ReadyCheck;
  readyTimeoutMs?: number;
};

export type ExitStatus = { code: number | null; signal: NodeJS.Signals | null };

export type ManagedProcess = {
  readonly name: string;
  /** The pid of the current incarnation (changes on restart). */
  readonly pid: number;
  readonly exited: boolean;
  readonly paused: boolean;
  /** The last ~200 KB of combined stdout/stderr, across restarts: for failure messages. */
  output(): string;
  /** Sends `signal` and waits (bounded) until the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<ExitStatus>;
  /** SIGTERM (SIGCONT too when paused), then SIGKILL when it has not exited within `timeoutMs`. */
  stop(timeoutMs?: number): Promise<ExitStatus>;
  pause(): void;
  resume(): void;
  /** Stops it if running, starts the same command and env again, and waits for readiness. */
  restart(): Promise<void>;
  waitForExit(): Promise<ExitStatus>;
  /** Resolves with the first line (printed from now on) matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
};

const OUTPUT_LIMIT = 200 * 1024;
const EXIT_WAIT_MS = 10_000;

/** Every process started and not yet known to be gone, for stopAllProcesses and the exit hook. */
const registry = new Set<ChildProcess>();
const exitCleanups = new Set<() => void>();
let exitHookInstalled = false;

/**
 * Runs `cleanup` (synchronously) if the test process exits or is signalled before it is
 * unregistered, after every child has been sent SIGKILL. Returns the unregister function.
 */
export function onExitCleanup(cleanup: () => void): () => void {
  installExitHook();
  exitCleanups.add(cleanup);
  return () => exitCleanups.delete(cleanup);
}

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Children get pipes, not a process group of their own: nothing else would kill them when
  // the test worker dies, and an orphaned server keeps its port and data dir busy.
  const killAll = () => {
    for (const child of registry) child.kill("SIGKILL"); // errors go to the child's "error" listener
    for (const cleanup of exitCleanups) {
      try {
        cleanup();
      } catch {}
    }
  };
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      killAll();
      // A listener cancels the default "die on this signal": re-raise it when nobody else handles it.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

function isRunning(child: ChildProcess) {
  return child.exitCode === null && child.signalCode === null;
}

/** `promise`'s value, or undefined after `ms`; the timer is cleared so it never holds the process open. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function errorWithOutput(message: string, output: string): Error {
  const tail = output.length > 8_000 ? `…${output.slice(-8_000)}` : output;
  return new Error(`${message}\n--- output tail ---\n${tail || "(no output)"}`);
}

export async function startProcess(options: StartProcessOptions): Promise<ManagedProcess> {
  installExitHook();
  const { name, readyTimeoutMs = 20_000 } = options;
  let out = "";
  const lineListeners = new Set<(line: string) => void>();
  let child!: ChildProcess;
  let exitPromise!: Promise<ExitStatus>;
  let paused = false;

  const append = (text: string) => {
    out += text;
    if (out.length > OUTPUT_LIMIT * 1.5) out = out.slice(-OUTPUT_LIMIT); // trimmed in batches, not per chunk
  };
  const output = () => out.slice(-OUTPUT_LIMIT);

  const spawnChild = async () => {
    paused = false;
    const next = spawn(options.command, options.args ?? [], {
      cwd: options.cwd,
      env: { ...inheritedEnvironment(), ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
      detached: false,
      uid: options.uid,
      gid: options.gid,
    });
    // Lines are split per stream: an interleaved chunk from the other stream must not glue halves.
    for (const stream of [next.stdout, next.stderr]) {
      let partial = "";
      stream?.setEncoding("utf8");
      stream?.on("data", (text: string) => {
        append(text);
        const lines = (partial + text).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) for (const listener of lineListeners) listener(line);
      });
    }
    next.stdin?.on("error", () => {});
    exitPromise = new Promise((resolve) => {
      next.once("exit", (code, signal) => {
        registry.delete(next);
        paused = false;
        resolve({ code, signal });
      });
    });
    await new Promise<void>((resolve, reject) => {
      next.once("spawn", resolve);
      next.once("error", (error) => reject(new Error(`${name}: failed to spawn: ${error.message}`)));
    });
    next.on("error", () => {}); // e.g. a failed kill(): reported by our own waits, must not crash
    if (isRunning(next)) registry.add(next);
    child = next;
  };

  const waitForLine = (pattern: RegExp, timeoutMs = readyTimeoutMs, signal?: AbortSignal) =>
    new Promise<string>((resolve, reject) => {
      const listener = (line: string) => {
        pattern.lastIndex = 0;
        if (!pattern.test(line)) return;
        done();
        resolve(line);
      };
      const fail = (message: string) => {
        done();
        reject(errorWithOutput(`${name}: ${message}`, output()));
      };
      const timer = setTimeout(() => fail(`no line matching ${pattern} within ${timeoutMs} ms`), timeoutMs);
      const onAbort = () => fail("cancelled");
      const done = () => {
        clearTimeout(timer);
        lineListeners.delete(listener);
        signal?.removeEventListener("abort", onAbort);
      };
      lineListeners.add(listener);
      signal?.addEventListener("abort", onAbort);
    });

  const pollUrl = async (url: string, deadline: number, signal: AbortSignal) => {
    while (Date.now() < deadline && !signal.aborted) {
      try {
        const response = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(1_000)]) });
        await response.arrayBuffer().catch(() => {});
        if (response.status === 200) return;
      } catch {}
      await sleep(100);
    }
    throw new Error(`${url} did not answer 200`);
  };

  const waitReady = async () => {
    const { ready } = options;
    if (!ready?.url && !ready?.line) return;
    const cancel = new AbortController();
    const checks: Promise<unknown>[] = [];
    // Subscribed before anything is awaited so that an early ready line is not missed.
    if (ready.line) checks.push(waitForLine(ready.line, readyTimeoutMs, cancel.signal));
    if (ready.url) checks.push(pollUrl(ready.url, Date.now() + readyTimeoutMs, cancel.signal));
    const exited = exitPromise.then((status) => Promise.reject(status));
    exited.catch(() => {}); // it also rejects on a normal exit long after readiness
    try {
      await Promise.race([Promise.all(checks), exited]);
    } catch (reason) {
      cancel.abort();
      const describe = JSON.stringify(ready, (_, v) => (v instanceof RegExp ? String(v) : v));
      let message: string;
      if (reason && typeof reason === "object" && "signal" in reason && "code" in reason) {
        const status = reason as ExitStatus;
        message = `${name}: exited before it was ready ${describe} (code ${status.code}, signal ${status.signal})`;
        // Let the last output arrive: the reason it died is usually in its final lines.
        await within(new Promise((r) => child.once("close", r)), 300);
      } else {
        // Never leave a half-started server behind holding its port.
        await managed.kill("SIGKILL").catch(() => {});
        message = `${name}: not ready ${describe} within ${readyTimeoutMs} ms; it was killed`;
      }
      throw errorWithOutput(message, output());
    }
  };

  const managed: ManagedProcess = {
    name,
    get pid() {
      return child.pid ?? -1;
    },
    get exited() {
      return !isRunning(child);
    },
    get paused() {
      return paused;
    },
    output,
    waitForExit: () => exitPromise,
    waitForLine,
    async kill(signal = "SIGKILL") {
      if (isRunning(child)) {
        child.kill(signal);
        // A stopped process only acts on SIGKILL: wake it so that other signals take effect.
        if (paused && signal !== "SIGKILL") child.kill("SIGCONT");
      }
      const status = await within(exitPromise, EXIT_WAIT_MS);
      if (status) return status;
      throw errorWithOutput(`${name}: still running ${EXIT_WAIT_MS} ms after ${signal}`, output());
    },
    async stop(timeoutMs = 5_000) {
      if (!isRunning(child)) return exitPromise;
      child.kill("SIGTERM");
      if (paused) child.kill("SIGCONT");
      return (await within(exitPromise, timeoutMs)) ?? managed.kill("SIGKILL");
    },
    pause() {
      if (isRunning(child)) child.kill("SIGSTOP");
      paused = true;
    },
    resume() {
      if (isRunning(child)) child.kill("SIGCONT");
      paused = false;
    },
    async restart() {
      if (isRunning(child)) await managed.stop();
      append(`\n--- ${name} restarted ---\n`);
      await spawnChild();
      await waitReady();
    },
  };

  await spawnChild();
  await waitReady();
  return managed;
}

/**
 * Whether a process by this pid is running. A zombie counts as gone: orphans of a killed
 * process are re-parented to PID 1, which on this machine kind reaps them only every ~1-2 s.
 */
export function isPidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
  }
  try {
    process.kill(pid, 0); // no /proc (not Linux): signal 0 checks existence only
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Stops every process started through startProcess that is still running (for afterAll). */
export async function stopAllProcesses(timeoutMs = 5_000): Promise<void> {
  await Promise.all(
    [...registry].map(async (child) => {
      const exited = new Promise<true>((resolve) => child.once("exit", () => resolve(true)));
      if (!isRunning(child)) return;
      child.kill("SIGTERM");
      child.kill("SIGCONT"); // a paused process would never act on the SIGTERM
      if (await within(exited, timeoutMs)) return;
      child.kill("SIGKILL");
      await within(exited, EXIT_WAIT_MS);
    }),
  );
}
