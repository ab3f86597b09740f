import {
  type BusLogger,
  createOutboxRelay,
  createRedisConnection,
  createStreamConsumer,
  type OutboxRelay,
  type StreamConsumer,
} from "@perseus/bus";
import type { RobotPolicy } from "@perseus/contracts";
import type { Db } from "@perseus/db";
import type { Revocations, TokenVerifier } from "@perseus/kit";
import type { FastifyBaseLogger } from "fastify";
import type { Redis } from "ioredis";
import type { DispatchConfig } from "./config.js";
import { dispatchKeys } from "./lib/keys.js";
import type { DispatchMetrics } from "./metrics.js";
import { createHub, type Hub } from "./modules/gateway/hub.js";
import { createPresence } from "./modules/gateway/presence.js";
import type { GatewayPolicy } from "./modules/gateway/session.js";
import { createIntakeHandler } from "./modules/intake/intake.consumer.js";
import type { AssignmentPolicy } from "./modules/leases/assignment.js";
import { type Scheduler, startScheduler } from "./modules/scheduler/jobs.js";
import { createRedisWaker, WakeMessage, type Waker } from "./modules/scheduler/waker.js";
import { createTaskTraces } from "./modules/tasks/task-traces.js";
import type { TerminalRelay } from "./modules/terminals/relay.js";

export const FEATURES = [
  "leases",
  "fencing",
  "resume",
  "progress",
  "cancel",
  "reject",
  "release",
  "idempotent-effects",
  "task-token",
  "config-push",
  "long-poll",
  "approvals",
  "terminal",
];

export function policiesOf(config: DispatchConfig) {
  const wire: RobotPolicy = {
    heartbeatIntervalMs: config.HEARTBEAT_INTERVAL_MS,
    leaseTtlMs: config.LEASE_TTL_MS,
    maxFrameBytes: config.MAX_FRAME_BYTES,
    maxFramesPerSecond: config.MAX_FRAMES_PER_SECOND,
    maxConcurrency: 64,
    offerTtlMs: config.OFFER_TTL_MS,
  };
  const assignment: AssignmentPolicy = {
    offerTtlMs: config.OFFER_TTL_MS,
    retryBaseMs: config.RETRY_BASE_MS,
    retryMaxMs: config.RETRY_MAX_MS,
    rejectDelayMs: config.REJECT_DELAY_MS,
    historyLimit: config.OFFER_HISTORY_LIMIT,
  };
  const gateway: GatewayPolicy = {
    wire,
    helloTimeoutMs: config.HELLO_TIMEOUT_MS,
    historyLimit: config.OFFER_HISTORY_LIMIT,
    retryBaseMs: config.RETRY_BASE_MS,
    retryMaxMs: config.RETRY_MAX_MS,
    rejectDelayMs: config.REJECT_DELAY_MS,
    features: FEATURES,
  };
  return { wire, assignment, gateway };
}

export type DispatchRuntime = {
  hub: Hub;
  waker: Waker;
  /** Live terminals relayed by this replica (set by the app once built). */
  terminals?: TerminalRelay;
  /** Starts the background work (idempotent). */
  start(): void;
  /** Stops it: workers finish their job in progress, the relay its batch. */
  stop(): Promise<void>;
  /** The job queues while background work runs on this replica (none otherwise). */
  queues(): NonNullable<Scheduler["queues"]>;
};

/**
 * Everything dispatch runs besides HTTP: the connection hub with its local poll, and (with
 * DISPATCH_BACKGROUND) the outbox relay, the `message.created` consumer, the BullMQ
 * workers and the wake listener. Each opens its own Redis connection, configured for its role.
 */
export function createRuntime(deps: {
  config: DispatchConfig;
  instanceId: string;
  db: Db;
  log: FastifyBaseLogger;
  revocations: Revocations;
  verifier: TokenVerifier;
  metrics?: DispatchMetrics;
}): DispatchRuntime {
  const { config, db, log } = deps;
  const { assignment } = policiesOf(config);
  const keys = dispatchKeys(config.REDIS_PREFIX);
  const busLog: BusLogger = {
    info: (fields, message) => log.info(fields, message),
    warn: (fields, message) => log.warn(fields, message),
    error: (fields, message) => log.error(fields, message),
  };
  const background = config.DISPATCH_BACKGROUND;
  const redis = (role: "command" | "worker" | "producer") =>
    createRedisConnection(config.REDIS_URL, role, { log: busLog });
  const command = redis("command");
  const connections: Redis[] = [command];

  let scheduler: Scheduler | undefined;
  let hub: Hub | undefined;
  const traces = createTaskTraces(command, keys);
  const waker = createRedisWaker({
    redis: command,
    channel: keys.wakeChannel,
    instanceId: deps.instanceId,
    local: (message) => hub?.onWake(message),
    retryAt: (tenantId, robotId, at) => scheduler?.retryAt(tenantId, robotId, at),
  });
  hub = createHub({
    db,
    instanceId: deps.instanceId,
    waker,
    presence: createPresence({
      redis: command,
      keys,
      staleMs: Math.max(15_000, config.HEARTBEAT_INTERVAL_MS * 3),
    }),
    assignment,
    maxConnectionsPerRobot: config.ROBOT_MAX_CONNECTIONS,
    log,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    traces,
  });
  const theHub = hub;

  let relay: OutboxRelay | undefined;
  let consumer: StreamConsumer | undefined;
  let subscriber: Redis | undefined;
  const timers: NodeJS.Timeout[] = [];
  let unsubscribeRevocations: (() => void) | undefined;
  let isStarted = false;

  const runtime: DispatchRuntime = {
    hub: theHub,
    waker,
    queues: () => scheduler?.queues ?? [],
    start() {
      if (isStarted) return;
      isStarted = true;
      let isTicking = false;
      let lastTick = 0;
      // Wake-ups and the reconciler cover lost work while Redis is up; the local poll then only
      // backs them up (every 10 intervals). With Redis away it is the only way, so every interval.
      const isWakeHealthy = () => background && subscriber?.status === "ready";
      timers.push(
        setInterval(() => {
          if (isTicking) return;
          if (isWakeHealthy() && Date.now() - lastTick < config.LOCAL_POLL_MS * 10) return;
          lastTick = Date.now();
          isTicking = true;
          theHub
            .tick()
            .catch((error) => log.warn({ err: error }, "local poll failed"))
            .finally(() => {
              isTicking = false;
            });
        }, config.LOCAL_POLL_MS),
        setInterval(
          () => void theHub.refreshPresence().catch(() => {}),
          Math.max(1_000, Math.min(config.HEARTBEAT_INTERVAL_MS, 5_000)),
        ),
      );
      for (const timer of timers) timer.unref();
      // Revocation closes the robot's sockets within seconds; its leases stop extending at once.
      unsubscribeRevocations = deps.revocations.onRevoked((kind, id) => {
        if (kind !== "robot" && kind !== "credential") return;
        // Terminal sessions end as `revoked` before the sockets close (which would say `robot_disconnected`).
        runtime.terminals?.revokeWhere(
          (s) => (kind === "robot" ? s.robot.robotId === id : s.robot.credentialId === id) && !s.isAuthorized,
        );
        theHub.closeWhere(
          (s) => (kind === "robot" ? s.robot.robotId === id : s.robot.credentialId === id) && !s.isAuthorized,
          4001,
          "credential or robot revoked",
        );
      });
      if (!background) return;

      relay = createOutboxRelay({
        pool: db.$client,
        redis: command,
        prefix: config.REDIS_PREFIX,
        log: busLog,
      });
      relay.start();
      const intake = createIntakeHandler({
        db,
        waker,
        maxAttempts: config.TASK_MAX_ATTEMPTS,
        traces,
      });
      consumer = createStreamConsumer({
        redis: command,
        prefix: config.REDIS_PREFIX,
        topic: "chat",
        group: "dispatch",
        consumer: deps.instanceId,
        claimIdleMs: config.CONSUMER_CLAIM_IDLE_MS,
        blockMs: 1_000,
        handle: async (event) => void (await intake(event)),
        log: busLog,
        ...(deps.metrics ? { onDeadLetter: deps.metrics.onDeadLetter } : {}),
      });
      consumer.start();
      const producer = redis("producer");
      const worker = redis("worker");
      connections.push(producer, worker);
      scheduler = startScheduler({
        db,
        waker: () => waker,
        policy: assignment,
        producer,
        worker,
        prefix: config.REDIS_PREFIX,
        sweepEveryMs: config.SWEEP_INTERVAL_MS,
        reconcileEveryMs: config.RECONCILE_INTERVAL_MS,
        log: busLog,
        ...(deps.metrics ? { metrics: deps.metrics } : {}),
      });
      subscriber = redis("worker");
      connections.push(subscriber);
      subscriber.on("message", (_channel: string, raw: string) => {
        try {
          const message = WakeMessage.safeParse(JSON.parse(raw));
          if (message.success && message.data.o !== deps.instanceId) theHub.onWake(message.data);
        } catch {}
      });
      subscriber
        .subscribe(keys.wakeChannel)
        .catch((error) => log.warn({ err: error }, "wake subscription failed"));
    },
    async stop() {
      isStarted = false;
      for (const timer of timers.splice(0)) clearInterval(timer);
      unsubscribeRevocations?.();
      await Promise.allSettled([scheduler?.stop(), consumer?.stop(), relay?.stop()]);
      for (const connection of connections.splice(0)) connection.disconnect();
    },
  };
  return runtime;
}
