import { type BusLogger, createQueue, createWorker, defineJobs, type TypedQueue } from "@perseus/bus";
import type { Db } from "@perseus/db";
import type { Worker } from "bullmq";
import type { Redis } from "ioredis";
import { z } from "zod";
import { withTenantRetry } from "../../lib/tx.js";
import type { LeaseMetrics } from "../../metrics.js";
import { type AssignmentPolicy, expireForRobot, lockRobot } from "../leases/assignment.js";
import { scheduleRetries, type Waker } from "./waker.js";

/** Work that must happen once across replicas, with retries: BullMQ owns it. */
export const dispatchJobs = defineJobs({
  /** Repeatable: end expired offers and leases of every tenant. */
  "dispatch.sweep": { schema: z.object({}), options: { removeOnComplete: true, removeOnFail: 50 } },
  /** Repeatable: wake robots with due queued work (whatever a lost wake-up left behind). */
  "dispatch.reconcile": { schema: z.object({}), options: { removeOnComplete: true, removeOnFail: 50 } },
  /** Delayed: a retry's backoff is over; wake its robot. */
  "dispatch.retry": {
    schema: z.object({ tenantId: z.uuid(), robotId: z.uuid() }),
    options: {
      removeOnComplete: true,
      removeOnFail: 50,
      attempts: 3,
      backoff: { type: "exponential", delay: 500 },
    },
  },
});

type Row = { tenant_id: string; robot_id: string };

/** Ends expired offers/leases robot by robot, each in its own tenant transaction. */
export async function sweepExpired(
  db: Db,
  waker: Waker,
  policy: AssignmentPolicy,
  batch = 500,
  metrics?: LeaseMetrics,
): Promise<number> {
  const { rows } = await db.$client.query<Row>(
    "SELECT tenant_id, robot_id FROM perseus_sys.dispatch_expired_robots($1)",
    [batch],
  );
  let changed = 0;
  for (const row of rows) {
    const expired = await withTenantRetry(db, { tenantId: row.tenant_id }, async (tx) => {
      await lockRobot(tx, row.robot_id);
      return expireForRobot(tx, row.robot_id, policy);
    });
    metrics?.expired(expired);
    changed += expired.changed.length;
    scheduleRetries(waker, expired.changed);
    if (expired.changed.length > 0) waker.robot(row.tenant_id, row.robot_id);
  }
  return changed;
}

/** Wakes every robot that has due queued work, wherever its connections are. */
export async function reconcileDue(db: Db, waker: Waker, batch = 1_000): Promise<number> {
  const { rows } = await db.$client.query<Row>(
    "SELECT tenant_id, robot_id FROM perseus_sys.dispatch_due_robots($1)",
    [batch],
  );
  for (const row of rows) waker.robot(row.tenant_id, row.robot_id);
  return rows.length;
}

export type Scheduler = {
  /** The dispatch job queues, for their depth metrics. */
  readonly queues: readonly TypedQueue<typeof dispatchJobs, keyof typeof dispatchJobs>[];
  retryAt(tenantId: string, robotId: string, at: Date): void;
  stop(): Promise<void>;
};

/**
 * Starts the queues and workers of the dispatch jobs and registers the repeatable ones
 * (idempotent: every replica upserts the same schedulers, BullMQ runs each tick once).
 */
export function startScheduler(options: {
  db: Db;
  waker: () => Waker;
  policy: AssignmentPolicy;
  producer: Redis;
  worker: Redis;
  prefix: string;
  sweepEveryMs: number;
  reconcileEveryMs: number;
  log: BusLogger;
  metrics?: LeaseMetrics;
}): Scheduler {
  const { db, policy, prefix, log } = options;
  const queue = (name: keyof typeof dispatchJobs) =>
    createQueue(dispatchJobs, name, { connection: options.producer, prefix, log });
  const sweepQueue = queue("dispatch.sweep");
  const reconcileQueue = queue("dispatch.reconcile");
  const retryQueue = queue("dispatch.retry");
  const workerOptions = { connection: options.worker, prefix, log };
  const workers: Worker[] = [
    createWorker(
      dispatchJobs,
      "dispatch.sweep",
      () => sweepExpired(db, options.waker(), policy, 500, options.metrics),
      workerOptions,
    ),
    createWorker(dispatchJobs, "dispatch.reconcile", () => reconcileDue(db, options.waker()), workerOptions),
    createWorker(
      dispatchJobs,
      "dispatch.retry",
      async (data) => options.waker().robot(data.tenantId, data.robotId),
      { ...workerOptions, concurrency: 4 },
    ),
  ];

  let isStopped = false;
  let isRegistering = false;
  const upsertSchedulers = async () => {
    await sweepQueue.queue.upsertJobScheduler(
      "dispatch.sweep",
      { every: options.sweepEveryMs },
      { name: "dispatch.sweep", data: {}, opts: dispatchJobs["dispatch.sweep"].options },
    );
    await reconcileQueue.queue.upsertJobScheduler(
      "dispatch.reconcile",
      { every: options.reconcileEveryMs },
      { name: "dispatch.reconcile", data: {}, opts: dispatchJobs["dispatch.reconcile"].options },
    );
  };
  // Redis may be down at start: keep trying to register the repeatable jobs until it is up.
  const register = async () => {
    if (isRegistering) return;
    isRegistering = true;
    for (let attempt = 1; !isStopped; attempt++) {
      try {
        await upsertSchedulers();
        break;
      } catch (error) {
        log.warn(
          { err: (error as Error).message, attempt },
          "registering repeatable dispatch jobs failed; retrying",
        );
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 250 * 2 ** attempt)).unref());
      }
    }
    isRegistering = false;
  };
  void register();
  // A Redis that restarted empty lost the schedulers: register them again on every reconnect.
  let wasReady = options.producer.status === "ready";
  options.producer.on("ready", () => {
    if (wasReady) void register();
    wasReady = true;
  });

  return {
    queues: [sweepQueue, reconcileQueue, retryQueue],
    retryAt(tenantId, robotId, at) {
      const delay = Math.max(0, at.getTime() - Date.now());
      // Retries of one robot due in the same second share a job: one wake serves them all.
      const jobId = `retry-${robotId}-${Math.ceil(at.getTime() / 1000)}`;
      retryQueue.add({ tenantId, robotId }, { delay, jobId }).catch(() => {});
    },
    async stop() {
      isStopped = true;
      // close() waits for the job in progress, so a graceful stop leaves nothing active or stalled.
      await Promise.all(workers.map((worker) => worker.close()));
      await Promise.all([sweepQueue.close(), reconcileQueue.close(), retryQueue.close()]);
    },
  };
}
