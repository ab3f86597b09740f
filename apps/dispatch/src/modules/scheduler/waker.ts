import { ApprovalDecidedFrame } from "@perseus/contracts";
import type { Redis } from "ioredis";
import { z } from "zod";
import type { TaskRow } from "../tasks/task-events.js";

/**
 * Nudges that make work move sooner. Each is an optimisation only: Postgres holds the
 * truth, and the reconciler and each replica's local poll find the same work without them.
 */
export type Waker = {
  /** The robot may have new work: the replica(s) holding its connections should claim. */
  robot(tenantId: string, robotId: string): void;
  /** A running task should be told to stop: the replica holding its lease sends `cancel`. */
  cancel(tenantId: string, robotId: string, taskId: string): void;
  /** A retry becomes due at `at`: wake the robot then (a delayed job). */
  retryAt(tenantId: string, robotId: string, at: Date): void;
  /** Close a robot connection wherever it is held (a newer connection replaced it). */
  replace(connectionId: string): void;
  /** An approval was decided: the replica holding the task's lease pushes the frame to the robot. */
  approval(tenantId: string, robotId: string, frame: ApprovalDecidedFrame): void;
  /** A terminal session was opened: the replica holding `connectionId` starts its pty on the robot. */
  terminal(open: TerminalOpenMessage): void;
};

export const TerminalOpenMessage = z.object({
  t: z.uuid(),
  r: z.uuid(),
  s: z.uuid(),
  conn: z.string().max(64),
  cols: z.number().int(),
  rows: z.number().int(),
  /** The transcript is recorded. */
  rec: z.boolean(),
});
export type TerminalOpenMessage = z.infer<typeof TerminalOpenMessage>;

export const WakeMessage = z.discriminatedUnion("k", [
  z.object({ k: z.literal("wake"), o: z.string(), t: z.uuid(), r: z.uuid() }),
  z.object({ k: z.literal("cancel"), o: z.string(), t: z.uuid(), r: z.uuid(), task: z.uuid() }),
  z.object({ k: z.literal("replace"), o: z.string(), conn: z.string().max(64) }),
  z.object({ k: z.literal("approval"), o: z.string(), t: z.uuid(), r: z.uuid(), f: ApprovalDecidedFrame }),
  TerminalOpenMessage.extend({ k: z.literal("terminal"), o: z.string() }),
]);
export type WakeMessage = z.infer<typeof WakeMessage>;

/** Publishes wakes on a Redis channel; a failed publish is ignored (see Waker). */
export function createRedisWaker(options: {
  redis: Redis;
  channel: string;
  /** Origin of the messages: a replica skips its own when they come back over pub/sub. */
  instanceId: string;
  /** Also delivered in-process at once, so the replica that made the change needs no round trip. */
  local: (message: WakeMessage) => void;
  retryAt: (tenantId: string, robotId: string, at: Date) => void;
}): Waker {
  const send = (message: WakeMessage) => {
    options.local(message);
    options.redis.publish(options.channel, JSON.stringify(message)).catch(() => {});
  };
  return {
    robot: (t, r) => send({ k: "wake", o: options.instanceId, t, r }),
    cancel: (t, r, task) => send({ k: "cancel", o: options.instanceId, t, r, task }),
    retryAt: options.retryAt,
    replace: (conn) => send({ k: "replace", o: options.instanceId, conn }),
    approval: (t, r, f) => send({ k: "approval", o: options.instanceId, t, r, f }),
    terminal: (open) => send({ k: "terminal", o: options.instanceId, ...open }),
  };
}

/** For tests and tools without background work. */
export const noopWaker: Waker = {
  robot: () => {},
  cancel: () => {},
  retryAt: () => {},
  replace: () => {},
  approval: () => {},
  terminal: () => {},
};

/** Queued rows with a future not_before get a delayed wake-up, so retries run on time. */
export function scheduleRetries(waker: Waker, rows: readonly TaskRow[]) {
  const now = Date.now();
  for (const row of rows) {
    if (row.status === "queued" && row.notBefore && row.notBefore.getTime() > now) {
      waker.retryAt(row.tenantId, row.robotId, row.notBefore);
    }
  }
}
