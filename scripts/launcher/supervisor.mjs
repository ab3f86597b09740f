// Child processes of the launcher: started with prefixed output, restarted with backoff
// when they die unexpectedly, stopped with SIGTERM then SIGKILL.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogRenderer, fail, paint, printLine, warn } from "./output.mjs";
import { ROOT } from "./paths.mjs";

const MAX_BACKOFF_MS = 30_000;
/** A child that stayed up this long starts again from the shortest backoff. */
const STABLE_AFTER_MS = 30_000;

/**
 * One supervised process. `start` spawns it in its own process group (a Ctrl-C in the
 * terminal reaches only the launcher, which then stops the children in order).
 */
export function createChild({ name, script, args = [], env, port, rawLogs = false, onStart, onExit }) {
  let proc = null;
  let isStopping = false;
  let restarts = 0;
  let startedAt = 0;
  let restartTimer = null;
  let exited = Promise.resolve();

  const pipe = (stream, target) => {
    const render = createLogRenderer({ raw: rawLogs });
    createInterface({ input: stream }).on("line", (line) => {
      const text = render(line);
      if (text !== null) printLine(name, text, target);
    });
  };

  const start = () => {
    startedAt = Date.now();
    proc = spawn(process.execPath, [script, ...args], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    pipe(proc.stdout, process.stdout);
    pipe(proc.stderr, process.stderr);
    const current = proc;
    onStart?.({ name, pid: current.pid });
    exited = new Promise((resolve) => {
      current.once("exit", (code, signal) => {
        resolve();
        if (isStopping) return;
        const uptime = Date.now() - startedAt;
        if (uptime > STABLE_AFTER_MS) restarts = 0;
        const delay = Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** restarts);
        restarts++;
        fail(`${name} exited unexpectedly (${signal ?? `code ${code}`}); restarting in ${delay / 1000} s`);
        onExit?.({ name, code, signal });
        restartTimer = setTimeout(() => {
          restartTimer = null;
          if (!isStopping) {
            printLine(name, paint("yellow", "restarting"));
            start();
          }
        }, delay);
      });
    });
    current.on("error", (error) => fail(`${name}: ${error.message}`));
  };

  return {
    name,
    port,
    get pid() {
      return proc?.pid ?? null;
    },
    get restarts() {
      return restarts;
    },
    get isRunning() {
      return proc !== null && proc.exitCode === null && proc.signalCode === null;
    },
    start,
    /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
    async stop(graceMs = 10_000) {
      isStopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      const gone = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
      if (gone) return;
      warn(`${name} did not stop within ${graceMs / 1000} s: killing it`);
      proc.kill("SIGKILL");
      await exited;
    },
  };
}

/** Runs a one-shot command (e.g. migrations) with prefixed output; resolves with its exit code. */
export function runOnce({ name, script, args = [], env, rawLogs = false }) {
  return new Promise((done) => {
    const proc = spawn(process.execPath, [script, ...args], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const [stream, target] of [
      [proc.stdout, process.stdout],
      [proc.stderr, process.stderr],
    ]) {
      const render = createLogRenderer({ raw: rawLogs });
      createInterface({ input: stream }).on("line", (line) => {
        const text = render(line);
        if (text !== null) printLine(name, text, target);
      });
    }
    proc.once("error", (error) => {
      fail(`${name}: ${error.message}`);
      done(1);
    });
    proc.once("close", (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
}

/** Polls `url` until it answers 200; resolves with its JSON body, rejects after `timeoutMs`. */
export async function waitForReady(url, { timeoutMs, isAlive = () => true, label = url }) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error(`${label} exited before it was ready`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      const body = await response.json().catch(() => ({}));
      if (response.status === 200) return body;
      last = `${response.status} ${JSON.stringify(body.checks ?? body)}`;
    } catch (error) {
      last = error.cause?.code ?? error.message;
    }
    await sleep(250);
  }
  throw new Error(`${label} was not ready within ${timeoutMs / 1000} s (last: ${paint("dim", last)})`);
}
