import type { DeadLetterInfo } from "@perseus/bus";
import {
  type CountableQueue,
  createDeadLetterCounter,
  createScrapeSnapshot,
  DEFAULT_SCRAPE_TTL_MS,
  defineCounter,
  defineGauge,
  type Registry,
  registerOutboxMetrics,
  registerQueueMetrics,
  registerStreamMetrics,
} from "@perseus/kit";
import type { Redis } from "ioredis";
import type pg from "pg";
import type { RobotSession } from "./modules/gateway/session.js";

/** The frames that end a lease; their outcome is `accepted`, `duplicate` or the refusal code. */
export type LeaseEndFrame = "complete" | "fail" | "cancelled" | "release";

/**
 * Lease events, counted where they happen (after their transaction committed). Everything
 * here is a counter increment: nothing on the HTTP path, one call per robot frame at most.
 */
export type LeaseMetrics = {
  granted(): void;
  /** An expiry pass (sweeper or claim) ended `leases` leases and `offers` unanswered offers. */
  expired(counts: { leases: number; offers: number }): void;
  ended(frame: LeaseEndFrame, outcome: string): void;
};

export type DispatchMetrics = LeaseMetrics & {
  onDeadLetter: (info: DeadLetterInfo) => void;
  /** Registers the scrape-time gauges once the runtime exists. */
  observe(sources: {
    sessions: () => Iterable<RobotSession>;
    queues: () => readonly CountableQueue[];
    pool: pg.Pool;
    redis: Redis;
    prefix: string;
  }): void;
};

/** The dispatch service's own metrics on its registry (`perseus_dispatch_*`, queues, streams, outbox). */
export function createDispatchMetrics(registry: Registry): DispatchMetrics {
  const grants = defineCounter(registry, {
    name: "perseus_dispatch_lease_grants_total",
    help: "Leases granted (offers accepted under a new fencing epoch)",
  });
  const expiries = defineCounter(registry, {
    name: "perseus_dispatch_lease_expiries_total",
    help: "Leases (kind=lease) and unanswered offers (kind=offer) that ran out and were reclaimed",
    labelNames: ["kind"],
  });
  const ends = defineCounter(registry, {
    name: "perseus_dispatch_lease_ends_total",
    help: "Lease-ending robot frames by frame and outcome (accepted, duplicate, stale_epoch, lease_expired, ...)",
    labelNames: ["frame", "outcome"],
  });
  // Start the common series at 0, so rates and alerts work before the first event.
  grants.inc(0);
  for (const kind of ["lease", "offer"]) expiries.inc({ kind }, 0);
  for (const outcome of ["accepted", "stale_epoch", "lease_expired"])
    ends.inc({ frame: "complete", outcome }, 0);

  return {
    granted: () => grants.inc(),
    expired({ leases, offers }) {
      if (leases > 0) expiries.inc({ kind: "lease" }, leases);
      if (offers > 0) expiries.inc({ kind: "offer" }, offers);
    },
    ended: (frame, outcome) => ends.inc({ frame, outcome }),
    onDeadLetter: createDeadLetterCounter(registry),
    observe(sources) {
      defineGauge(registry, {
        name: "perseus_dispatch_robot_connections",
        help: "Robot connections on this replica that completed hello, by transport (ws, poll)",
        labelNames: ["transport"],
        collect(gauge) {
          const counts = { ws: 0, poll: 0 };
          for (const session of sources.sessions()) counts[session.transport.kind]++;
          for (const [transport, count] of Object.entries(counts)) gauge.set({ transport }, count);
        },
      });
      defineGauge(registry, {
        name: "perseus_dispatch_connected_robots",
        help: "Distinct robots with at least one connection on this replica",
        collect(gauge) {
          const robots = new Set<string>();
          for (const session of sources.sessions())
            robots.add(`${session.robot.tenantId}|${session.robot.robotId}`);
          gauge.set(robots.size);
        },
      });
      const tasks = createScrapeSnapshot(registry, {
        collector: "dispatch_tasks",
        ttlMs: DEFAULT_SCRAPE_TTL_MS,
        // Every tenant's tasks: counted by a SECURITY DEFINER function that returns counts only.
        load: async () =>
          (
            await sources.pool.query<{ status: string; tasks: string }>(
              "SELECT status, tasks FROM perseus_sys.dispatch_task_counts()",
            )
          ).rows,
      });
      defineGauge(registry, {
        name: "perseus_dispatch_tasks",
        help: "Tasks of every tenant by state (queued, offered, running, dead)",
        labelNames: ["state"],
        async collect(gauge) {
          const rows = await tasks.get();
          gauge.reset();
          for (const row of rows ?? []) gauge.set({ state: row.status }, Number(row.tasks));
        },
      });
      registerQueueMetrics(registry, { queues: sources.queues });
      registerStreamMetrics(registry, {
        redis: sources.redis,
        prefix: sources.prefix,
        consumed: [{ topic: "chat", group: "dispatch" }],
      });
      registerOutboxMetrics(registry, { pool: sources.pool, topics: ["task"] });
    },
  };
}
