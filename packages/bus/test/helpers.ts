import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type DomainEvent, EventEnvelope } from "@perseus/contracts";
import type { Redis } from "ioredis";
import { v7 as uuidv7 } from "uuid";
import { type BusLogger, createEvent } from "../src/index.js";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/** Entries of a stream, oldest first, with the JSON of field `e` parsed as an envelope. */
export async function readStream(
  redis: Redis,
  key: string,
): Promise<{ streamId: string; event: EventEnvelope }[]> {
  const entries = await redis.xrange(key, "-", "+");
  return entries.map(([streamId, fields]) => ({
    streamId,
    event: EventEnvelope.parse(JSON.parse(fields[fields.indexOf("e") + 1] ?? "null")),
  }));
}

/** A stream entry's fields as an object. */
export function fieldsOf(fields: string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) result[fields[i]!] = fields[i + 1]!;
  return result;
}

export type Child = {
  pid: number;
  lines: string[];
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  kill(): Promise<void>;
};

const children = new Set<ChildProcess>();

/**
 * Runs a TypeScript fixture in its own Node process. Node itself is spawned (tsx loaded
 * with --import), so the pid we SIGKILL is the process doing the work, not a wrapper.
 */
export function startChild(fixture: string, env: Record<string, string>): Child {
  const child = spawn(
    process.execPath,
    ["--conditions=@perseus/source", "--import", "tsx", join(packageRoot, "test", "fixtures", fixture)],
    { cwd: packageRoot, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  children.add(child);
  const lines: string[] = [];
  let stderr = "";
  let buffer = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    buffer += chunk;
    const parts = buffer.split("\n");
    buffer = parts.pop() ?? "";
    lines.push(...parts);
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = once(child, "exit");
  return {
    pid: child.pid ?? -1,
    lines,
    waitForLine: (pattern, timeoutMs = 20_000) =>
      waitFor(
        `child ${fixture} to print ${pattern} (stderr: ${stderr.slice(-500)})`,
        () => {
          if (child.exitCode !== null)
            throw new Error(`child exited ${child.exitCode}: ${stderr.slice(-2000)}`);
          return lines.find((line) => pattern.test(line));
        },
        timeoutMs,
      ),
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid ?? -1, "SIGKILL");
        await exited;
      }
      children.delete(child);
    },
  };
}

/** SIGKILLs every child still running (afterAll safety net). */
export async function killChildren() {
  await Promise.all(
    [...children].map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, "exit");
        child.kill("SIGKILL");
        await exited;
      }
    }),
  );
  children.clear();
}

/** A free TCP port on loopback (nothing listens on it once this returns). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (!address || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** A logger that records messages, so tests can assert on what was reported. */
export function recordingLogger() {
  const records: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => {
    records.push({ level, message, fields });
  };
  const log: BusLogger = { info: at("info"), warn: at("warn"), error: at("error") };
  return { log, records };
}

export const ids = (events: readonly { id: string }[] | readonly DomainEvent[]) =>
  events.map((event) => event.id);

type TenantLike = { tenantId: string; teamId: string; chatgroupId: string; owner: { id: string } };

/** A valid `message.created` event of the tenant's chatgroup. */
export function messageEvent(tenant: TenantLike, seq: number) {
  return createEvent("message.created", tenant.tenantId, {
    messageId: uuidv7(),
    chatgroupId: tenant.chatgroupId,
    teamId: tenant.teamId,
    seq,
    authorType: "user",
    authorId: tenant.owner.id,
    body: `hello ${seq}`,
    threadRootId: null,
    mentions: { users: [], robots: [] },
    taskId: null,
    createdAt: new Date().toISOString(),
  });
}

/** A valid `task.status` event (travels on the "task" topic). */
export function taskEvent(tenant: TenantLike, attempt: number) {
  return createEvent("task.status", tenant.tenantId, {
    taskId: uuidv7(),
    robotId: uuidv7(),
    chatgroupId: tenant.chatgroupId,
    messageId: null,
    status: "queued",
    attempt,
    error: null,
  });
}
