import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  getFreePort,
  isPidAlive,
  type ManagedProcess,
  startProcess,
  stopAllProcesses,
} from "../src/index.js";

const ticker = fileURLToPath(new URL("./fixtures/ticker.mjs", import.meta.url));
const tsx = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));

afterAll(async () => {
  await stopAllProcesses();
});

async function startTicker(env: NodeJS.ProcessEnv = {}) {
  const port = await getFreePort();
  const proc = await startProcess({
    name: "ticker",
    command: process.execPath,
    args: [ticker],
    env: { PORT: String(port), ...env },
    ready: { line: /^ready on port \d+/, url: `http://127.0.0.1:${port}/` },
  });
  return { proc, url: `http://127.0.0.1:${port}/` };
}

const ticks = (proc: ManagedProcess) => proc.output().match(/tick \d+/g)?.length ?? 0;

describe("startProcess", () => {
  it("waits for the ready line and URL, kills by pid and restarts on the same command and env", async () => {
    const { proc, url } = await startTicker();
    const firstPid = proc.pid;
    expect(await (await fetch(url)).text()).toBe(`ok ${firstPid}`);
    expect(proc.output()).toMatch(`ready on port`);

    expect(await proc.kill()).toEqual({ code: null, signal: "SIGKILL" });
    expect(proc.exited).toBe(true);
    expect(isPidAlive(firstPid)).toBe(false);
    await expect(fetch(url, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();

    await proc.restart();
    expect(proc.pid).not.toBe(firstPid);
    expect(proc.exited).toBe(false);
    expect(await (await fetch(url)).text()).toBe(`ok ${proc.pid}`);
    expect(proc.output()).toContain("--- ticker restarted ---");
    await proc.stop();
  });

  it("pause silences the process and resume lets it go on", async () => {
    const { proc, url } = await startTicker();
    await proc.waitForLine(/^tick \d+$/, 5_000);
    proc.pause();
    await sleep(50); // output already in the pipe may still arrive
    const before = ticks(proc);
    await sleep(400);
    expect(ticks(proc)).toBe(before);
    // The kernel still accepts the connection; nobody answers.
    await expect(fetch(url, { signal: AbortSignal.timeout(300) })).rejects.toThrow();

    proc.resume();
    await proc.waitForLine(/^tick \d+$/, 5_000);
    expect(ticks(proc)).toBeGreaterThan(before);
    expect((await fetch(url)).status).toBe(200);
    await proc.kill();
  });

  it("stop uses SIGTERM, and SIGKILL when the process ignores it", async () => {
    const graceful = await startTicker();
    expect(await graceful.proc.stop()).toEqual({ code: 0, signal: null });
    expect(graceful.proc.output()).toContain("graceful stop");

    const stubborn = await startTicker({ IGNORE_SIGTERM: "1" });
    const started = Date.now();
    expect(await stubborn.proc.stop(300)).toEqual({ code: null, signal: "SIGKILL" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(stubborn.proc.output()).toContain("ignoring SIGTERM");
  });

  it("a paused process still stops", async () => {
    const { proc } = await startTicker();
    proc.pause();
    expect(await proc.stop(2_000)).toEqual({ code: 0, signal: null });
  });

  it("a readiness timeout reports the output and kills the process", async () => {
    const error = await startProcess({
      name: "never-ready",
      command: process.execPath,
      args: [ticker],
      env: { NEVER_READY: "1" },
      ready: { line: /^ready/ },
      // Long enough for a loaded machine to start node and print the first line.
      readyTimeoutMs: 4_000,
    }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/never-ready: not ready .* within 4000 ms; it was killed/);
    expect((error as Error).message).toContain("starting up, but never getting ready");
  });

  it("an exit before readiness fails at once with the exit code and output", async () => {
    const started = Date.now();
    const error = await startProcess({
      name: "crasher",
      command: process.execPath,
      args: [ticker],
      env: { CRASH: "1" },
      ready: { url: `http://127.0.0.1:${await getFreePort()}/` },
      readyTimeoutMs: 10_000,
    }).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/crasher: exited before it was ready .*code 3/);
    expect((error as Error).message).toContain("fatal: cannot open config");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("a missing binary is a clear error", async () => {
    await expect(startProcess({ name: "ghost", command: "/nonexistent/binary" })).rejects.toThrow(
      /ghost: failed to spawn: .*ENOENT/,
    );
  });

  it.each([
    ["exit", "ticker"],
    ["throw", "ticker"],
    ["SIGTERM", "ticker"],
    ["SIGTERM", "redis"],
  ])("children and temp dirs die with the test process (%s, %s)", async (how, kind) => {
    const parent = await startProcess({
      name: `parent-${how}`,
      command: tsx,
      args: [fileURLToPath(new URL("./fixtures/parent-exits.ts", import.meta.url)), how, kind],
      // A silent child: a ticking one would die of EPIPE on its own and prove nothing.
      env: { TICK_MS: "600000" },
      ready: { line: /^child \d+ dir / },
    });
    const [, pid, dir] = /child (\d+) dir (\S+)/.exec(parent.output())!;
    const childPid = Number(pid);
    if (how === "SIGTERM") await parent.kill("SIGTERM");
    else await parent.waitForExit();
    // The hook's SIGKILL is synchronous; the signal's delivery is not.
    for (let i = 0; i < 50 && isPidAlive(childPid); i++) await sleep(20);
    const survived = isPidAlive(childPid);
    if (survived) process.kill(childPid, "SIGKILL"); // leave no orphan behind when this fails
    expect(survived).toBe(false);
    if (dir !== "none") expect(existsSync(dir!)).toBe(false);
  });

  it("stopAllProcesses ends every process still running", async () => {
    const a = await startTicker();
    const b = await startTicker({ IGNORE_SIGTERM: "1" });
    await stopAllProcesses(300);
    expect(a.proc.exited && b.proc.exited).toBe(true);
    expect(isPidAlive(a.proc.pid) || isPidAlive(b.proc.pid)).toBe(false);
  });
});
