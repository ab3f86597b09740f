import type { TraceContext } from "@perseus/contracts";
import { captureTrace, isTracingEnabled } from "@perseus/tracing";
import type { Redis } from "ioredis";
import type { DispatchKeys } from "../../lib/keys.js";

/** How long a task's trace context is kept: a task still queued after a day starts a new trace. */
const TTL_SECONDS = 86_400;

/**
 * The trace context each task was created in, so its offer — made later, by whichever
 * replica holds the robot's connection, after a wake, a poll or a retry — continues the
 * trace of the request that asked for it. Kept in Redis with a TTL: it is telemetry, not
 * state; a lost entry only means the robot's work starts a trace of its own. Does nothing
 * (no Redis call) when tracing is off.
 */
export type TaskTraces = {
  /** Remembers the active trace context for these new tasks. */
  remember(rows: readonly { tenantId: string; id: string }[]): Promise<void>;
  /** The remembered contexts of one tenant's tasks (missing ones are absent from the map). */
  recall(tenantId: string, taskIds: readonly string[]): Promise<Map<string, TraceContext>>;
};

export function createTaskTraces(redis: Redis, keys: Pick<DispatchKeys, "taskTrace">): TaskTraces {
  const key = keys.taskTrace;
  return {
    async remember(rows) {
      const trace = isTracingEnabled() && rows.length > 0 ? captureTrace() : undefined;
      if (!trace) return;
      const value = JSON.stringify(trace);
      const pipeline = redis.pipeline();
      for (const row of rows) pipeline.set(key(row.tenantId, row.id), value, "EX", TTL_SECONDS);
      await pipeline.exec();
    },
    async recall(tenantId, taskIds) {
      const found = new Map<string, TraceContext>();
      if (!isTracingEnabled() || taskIds.length === 0) return found;
      const values = await redis.mget(taskIds.map((taskId) => key(tenantId, taskId)));
      for (const [index, value] of values.entries()) {
        if (!value) continue;
        try {
          found.set(taskIds[index] as string, JSON.parse(value) as TraceContext);
        } catch {}
      }
      return found;
    },
  };
}
