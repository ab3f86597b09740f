import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { availableParallelism } from "node:os";

/** Cores for the system under test and the load generator, kept apart when the machine has two or more. */
export const cores = availableParallelism() >= 2 ? { subject: "1", load: "0" } : { subject: "0", load: "0" };

export type Subject = { process: ChildProcess; ready: Record<string, string>; stop: () => Promise<void> };

/**
 * Starts a process pinned to one core (taskset) and waits for its `READY {json}` line.
 * The JSON carries whatever the client needs (port, token).
 */
export async function startPinned(
  core: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<Subject> {
  const child = spawn("taskset", ["-c", core, process.execPath, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const ready = await new Promise<Record<string, string>>((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => reject(new Error(`no READY line from ${args.join(" ")}`)), 30_000);
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      const match = /READY (\{.*\})/.exec(buffer);
      if (match) {
        clearTimeout(timer);
        // Keep draining the subject's output (its logs) without buffering or scanning it:
        // a chatty subject would otherwise cost the driver quadratic time on a shared core.
        child.stdout!.off("data", onData);
        child.stdout!.resume();
        resolve(JSON.parse(match[1]!) as Record<string, string>);
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`subject exited with ${code} before READY`));
    });
  });
  return {
    process: child,
    ready,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await once(child, "exit");
      clearTimeout(timer);
    },
  };
}

/** Runs a short-lived command pinned to a core and parses the JSON it prints last. */
export async function runPinnedJson<T>(core: string, args: string[]): Promise<T> {
  const child = spawn("taskset", ["-c", core, process.execPath, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`${args.join(" ")} exited with ${code}`);
  const lines = out.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!) as T;
}
