import { captureTrace, inSpan, SpanKind, type TraceCarrier } from "@perseus/tracing";
import {
  type ConnectionOptions,
  type Job,
  type JobsOptions,
  Queue,
  UnrecoverableError,
  Worker,
} from "bullmq";
import { z } from "zod";
import { createKeyspace } from "./keys.js";
import { type BusLogger, consoleLogger, errorMessage } from "./log.js";

/** One job type: its payload schema and default options (attempts, backoff, retention…). */
export type JobDefinition<S extends z.ZodType = z.ZodType> = { schema: S; options?: JobsOptions };
export type JobCatalog = Record<string, JobDefinition>;
export type JobName<C extends JobCatalog> = keyof C & string;
/** What a producer passes to `add`. */
export type JobInput<C extends JobCatalog, N extends JobName<C>> = z.input<C[N]["schema"]>;
/** What a processor receives, after parsing. */
export type JobData<C extends JobCatalog, N extends JobName<C>> = z.output<C[N]["schema"]>;

/**
 * Where job data carries the trace context of the code that enqueued it (only with tracing
 * on); the worker strips it before parsing, so job schemas never see it.
 */
export const JOB_TRACE_KEY = "_trace";

/**
 * Declares the job catalog. Each job type gets its own queue (named after it), so workers
 * scale per job type. Job data must hold ids, never secrets: it sits in Redis in clear text.
 */
export function defineJobs<const C extends JobCatalog>(catalog: C): C {
  return catalog;
}

export type QueueConnection = {
  /** A "producer" connection (fail fast) for queues, a "worker" connection for workers. */
  connection: ConnectionOptions;
  /** The Perseus key prefix (same as the bus); BullMQ keys become `${prefix}:jobs:{name}:...`. */
  prefix: string;
};

export type TypedQueue<C extends JobCatalog, N extends JobName<C>> = {
  readonly name: N;
  /** The underlying BullMQ queue, for counts, events and administration. */
  readonly queue: Queue;
  /** Validates `data` against the catalog and enqueues it with the catalog's options merged with `opts`. */
  add(data: JobInput<C, N>, opts?: JobsOptions): Promise<Job>;
  close(): Promise<void>;
};

export function createQueue<C extends JobCatalog, N extends JobName<C>>(
  catalog: C,
  name: N,
  options: QueueConnection & { log?: BusLogger },
): TypedQueue<C, N> {
  const definition = catalog[name] as JobDefinition;
  const location = createKeyspace(options.prefix).queue(name);
  const queue = new Queue(location.name, { connection: options.connection, prefix: location.prefix });
  // Without a listener BullMQ prints every reconnect failure of a queue to stderr.
  const log = options.log ?? consoleLogger;
  queue.on("error", (error) =>
    log.info({ queue: name, err: errorMessage(error) }, "job queue connection error"),
  );
  return {
    name,
    queue,
    async add(data, opts) {
      // Fail at the producer: a bad payload is a bug in the caller, not something to retry.
      definition.schema.parse(data);
      const trace = captureTrace();
      const payload = trace ? { ...(data as object), [JOB_TRACE_KEY]: trace } : data;
      return queue.add(name, payload, { ...definition.options, ...opts });
    },
    close: () => queue.close(),
  };
}

export type JobProcessor<C extends JobCatalog, N extends JobName<C>> = (
  data: JobData<C, N>,
  job: Job,
) => Promise<unknown>;

export type WorkerOptions = QueueConnection & { concurrency?: number; log?: BusLogger };

/**
 * Starts a BullMQ worker for one job type. Invalid job data throws UnrecoverableError, so
 * the job fails at once instead of burning its retries. Close it with `await worker.close()`.
 */
export function createWorker<C extends JobCatalog, N extends JobName<C>>(
  catalog: C,
  name: N,
  processor: JobProcessor<C, N>,
  options: WorkerOptions,
): Worker {
  const definition = catalog[name] as JobDefinition;
  const log = options.log ?? consoleLogger;
  const location = createKeyspace(options.prefix).queue(name);
  const worker = new Worker(
    location.name,
    async (job: Job) => {
      const { [JOB_TRACE_KEY]: trace, ...data } = (job.data ?? {}) as Record<string, unknown>;
      const parsed = definition.schema.safeParse(data);
      if (!parsed.success) {
        throw new UnrecoverableError(`invalid data for job "${name}": ${z.prettifyError(parsed.error)}`);
      }
      const run = () => processor(parsed.data as JobData<C, N>, job);
      // Jobs enqueued inside a trace continue it; repeatable ticks carry none and make no span.
      const carrier = trace as TraceCarrier | undefined;
      if (!carrier?.traceparent) return run();
      return inSpan(
        `job ${name}`,
        {
          kind: SpanKind.CONSUMER,
          parent: carrier,
          attributes: {
            "messaging.system": "bullmq",
            "messaging.operation.type": "process",
            "messaging.destination.name": name,
            "messaging.message.id": String(job.id),
            "perseus.attempt": job.attemptsMade + 1,
          },
        },
        run,
      );
    },
    { connection: options.connection, prefix: location.prefix, concurrency: options.concurrency ?? 1 },
  );
  // Without a listener a Redis hiccup inside BullMQ becomes an unhandled 'error' event.
  worker.on("error", (error) => log.error({ queue: name, err: errorMessage(error) }, "job worker error"));
  worker.on("failed", (job, error) =>
    log.warn({ queue: name, jobId: job?.id, attempt: job?.attemptsMade, err: error.message }, "job failed"),
  );
  return worker;
}
