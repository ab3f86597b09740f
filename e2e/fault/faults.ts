import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { FaultProxy, ManagedProcess, PrivateRedis } from "@perseus/testing";
import { sleep } from "./api.js";
import type { Journal } from "./journal.js";
import type { Rng } from "./prng.js";

export type FaultKind =
  | "kill"
  | "pause"
  | "redis-kill"
  | "redis-amnesia"
  | "redis-pause"
  | "pg-terminate"
  | "redis-proxy"
  | "pg-proxy";

export type Fault = {
  index: number;
  /** When it starts, in ms after the workload started (later if the previous one is still healing). */
  atMs: number;
  kind: FaultKind;
  /** A process name, or the proxy mode for proxy faults. */
  target: string;
  /** How long the fault lasts before it is healed (pauses, blackholes, delays). */
  holdMs: number;
  delayMs?: number;
};

/** Processes the suite may kill or pause. */
export const PROCESS_TARGETS = ["chat", "dispatch", "workspace", "auth", "nanobot"] as const;
export type ProcessTarget = (typeof PROCESS_TARGETS)[number];

/** Every kind there is (`--faults` may name any of them). */
export const FAULT_KINDS: readonly FaultKind[] = [
  "kill",
  "pause",
  "redis-kill",
  "redis-amnesia",
  "redis-pause",
  "pg-terminate",
  "redis-proxy",
  "pg-proxy",
];

/**
 * The default mix, each kind listed as often as it should be drawn. `redis-amnesia` (Redis
 * restarting empty) is opt-in: the deployments run Redis with AOF, which a SIGKILL cannot
 * empty, and that case is covered by `redis-kill`.
 */
export const DEFAULT_FAULT_MIX: readonly FaultKind[] = [
  "kill",
  "kill",
  "pause",
  "pause",
  "redis-kill",
  "redis-pause",
  "pg-terminate",
  "redis-proxy",
  "pg-proxy",
];

/**
 * The whole schedule, decided by the seed alone: a fault every 10–20 s until the workload ends.
 * `kinds` replaces the default mix (to chase one kind of failure, or to add `redis-amnesia`).
 */
export function planFaults(
  rng: Rng,
  durationMs: number,
  kinds: readonly FaultKind[] = DEFAULT_FAULT_MIX,
): Fault[] {
  const faults: Fault[] = [];
  for (let at = rng.int(10_000, 20_000); at < durationMs - 5_000; at += rng.int(10_000, 20_000)) {
    const kind = rng.pick(kinds);
    const index = faults.length + 1;
    if (kind === "kill" || kind === "pause")
      faults.push({
        index,
        atMs: at,
        kind,
        target: rng.pick(PROCESS_TARGETS),
        holdMs: rng.int(2_000, 6_000),
      });
    else if (kind === "redis-proxy" || kind === "pg-proxy") {
      const mode = rng.pick(["blackhole", "delay", "reset"] as const);
      faults.push({
        index,
        atMs: at,
        kind,
        target: mode,
        holdMs: rng.int(2_000, 6_000),
        delayMs: rng.int(100, 800),
      });
    } else
      faults.push({
        index,
        atMs: at,
        kind,
        target: kind.startsWith("redis") ? "redis" : "postgres",
        holdMs: rng.int(2_000, 6_000),
      });
  }
  return faults;
}

export function describeFault(fault: Fault): string {
  const at = `${(fault.atMs / 1000).toFixed(1)}s`;
  switch (fault.kind) {
    case "kill":
      return `#${fault.index} @${at} SIGKILL ${fault.target}, restart`;
    case "pause":
      return `#${fault.index} @${at} SIGSTOP ${fault.target} for ${fault.holdMs} ms`;
    case "redis-kill":
      return `#${fault.index} @${at} SIGKILL redis, restart after ${fault.holdMs} ms`;
    case "redis-amnesia":
      return `#${fault.index} @${at} SIGKILL redis, delete its AOF, restart empty after ${fault.holdMs} ms`;
    case "redis-pause":
      return `#${fault.index} @${at} SIGSTOP redis for ${fault.holdMs} ms`;
    case "pg-terminate":
      return `#${fault.index} @${at} pg_terminate_backend on the seed's database`;
    default: {
      const what = fault.kind === "redis-proxy" ? "services→redis" : "services→postgres";
      const extra = fault.target === "delay" ? ` ${fault.delayMs} ms` : "";
      return `#${fault.index} @${at} proxy ${what} ${fault.target}${extra} for ${fault.holdMs} ms`;
    }
  }
}

export type FaultTargets = {
  processes: Record<ProcessTarget, ManagedProcess>;
  redis: PrivateRedis;
  redisProxy: FaultProxy;
  pgProxy: FaultProxy;
  /** pg_terminate_backend on every connection to this seed's database; returns how many. */
  terminateBackends: () => Promise<number>;
};

/** Restarts until it is ready: a restart on a loaded machine may miss its readiness deadline once. */
async function restart(process: ManagedProcess) {
  for (let attempt = 1; ; attempt++) {
    try {
      await process.restart();
      return;
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

/** Applies one fault and heals it. Throws only when healing failed (the run is then broken). */
export async function runFault(fault: Fault, targets: FaultTargets): Promise<string> {
  switch (fault.kind) {
    case "kill": {
      const process = targets.processes[fault.target as ProcessTarget];
      await process.kill("SIGKILL");
      await restart(process);
      return `restarted as pid ${process.pid}`;
    }
    case "pause": {
      const process = targets.processes[fault.target as ProcessTarget];
      process.pause();
      await sleep(fault.holdMs);
      process.resume();
      return "resumed";
    }
    case "redis-kill":
      await targets.redis.kill();
      await sleep(fault.holdMs);
      await targets.redis.restart();
      return "restarted";
    case "redis-amnesia":
      // Everything Redis held is gone (a machine crash past the fsync window, a failover to an
      // empty replica, a FLUSHALL): Postgres is the truth and the platform must recover from it.
      await targets.redis.kill();
      await rm(join(targets.redis.dir, "appendonlydir"), { recursive: true, force: true });
      await rm(join(targets.redis.dir, "dump.rdb"), { force: true });
      await sleep(fault.holdMs);
      await targets.redis.restart();
      return "restarted empty";
    case "redis-pause":
      targets.redis.pause();
      await sleep(fault.holdMs);
      targets.redis.resume();
      return "resumed";
    case "pg-terminate":
      return `${await targets.terminateBackends()} backends terminated`;
    case "redis-proxy":
    case "pg-proxy": {
      const proxy = fault.kind === "redis-proxy" ? targets.redisProxy : targets.pgProxy;
      if (fault.target === "reset") {
        proxy.setMode("reset");
        await sleep(200);
      } else {
        proxy.setMode(fault.target as "blackhole" | "delay", { delayMs: fault.delayMs });
        await sleep(fault.holdMs);
        // Blackholed bytes are gone for good: those connections can never be resumed, only reset
        // (as a long partition ends with both sides' connections dead).
        if (fault.target === "blackhole") {
          proxy.setMode("reset");
          await sleep(200);
        }
      }
      proxy.setMode("pass");
      return "healed";
    }
  }
}

/** Runs the schedule from `startedAt` until `until`; every fault is journalled and printed as it happens. */
export async function runFaultSchedule(options: {
  faults: Fault[];
  targets: FaultTargets;
  journal: Journal;
  startedAt: number;
  until: number;
  log: (line: string) => void;
}): Promise<void> {
  const { faults, targets, journal, startedAt, until, log } = options;
  for (const fault of faults) {
    const wait = startedAt + fault.atMs - Date.now();
    if (wait > 0) await sleep(wait);
    if (Date.now() >= until) break;
    const base = { op: "fault" as const, index: fault.index, kind: fault.kind, target: fault.target };
    log(`fault ${describeFault(fault)}`);
    journal.write({ ...base, phase: "start", detail: describeFault(fault) });
    try {
      const detail = await runFault(fault, targets);
      journal.write({ ...base, phase: "end", detail });
      log(`fault #${fault.index} healed: ${detail}`);
    } catch (error) {
      journal.write({ ...base, phase: "error", detail: (error as Error).message.slice(0, 2_000) });
      log(`fault #${fault.index} failed to heal: ${(error as Error).message.split("\n")[0]}`);
      throw error;
    }
  }
}
