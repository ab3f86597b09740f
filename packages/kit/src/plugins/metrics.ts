import type { FastifyInstance, FastifyRequest, onResponseHookHandler } from "fastify";
import fp from "fastify-plugin";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { AppError } from "../errors.js";

declare module "fastify" {
  interface FastifyInstance {
    /** This service's Prometheus registry: modules register their own metrics here. */
    metrics: Registry;
  }
}

export type { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Request latency buckets: a cached read answers in well under a millisecond, an upload in seconds. */
export const REQUEST_DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const statusClassOf = (status: number) => STATUS_CLASSES[Math.floor(status / 100) - 1] ?? "other";

/**
 * Prometheus metrics with a registry per app (not the global one), so several services
 * can share a process in local mode without clashing. Every name starts with `perseus_`.
 */
export const metricsPlugin = fp(
  async (
    app: FastifyInstance,
    options: {
      service: string;
      instanceId: string;
      /** Who may scrape `/metrics`; others get the 404 of an unknown route. Default: anyone. */
      allowScrape?: ((request: FastifyRequest) => boolean) | undefined;
    },
  ) => {
    const registry = new Registry();
    registry.setDefaultLabels({ service: options.service, instance: options.instanceId });
    collectDefaultMetrics({ register: registry, prefix: "perseus_" });
    const duration = defineHistogram(registry, {
      name: "perseus_http_request_duration_seconds",
      help: "HTTP request latency by method, route pattern and status class",
      labelNames: ["method", "route", "status_class"],
      buckets: REQUEST_DURATION_BUCKETS,
    });
    app.decorate("metrics", registry);
    // One labelled child per method, route and status, looked up by nested maps: observing
    // with a label object hashed and sorted the labels on every request.
    const children = new Map<string, Map<string, Map<number, Histogram.Internal<string>>>>();
    const childFor = (method: string, route: string, status: number) => {
      let byRoute = children.get(method);
      if (!byRoute) {
        byRoute = new Map();
        children.set(method, byRoute);
      }
      let byStatus = byRoute.get(route);
      if (!byStatus) {
        byStatus = new Map();
        byRoute.set(route, byStatus);
      }
      let child = byStatus.get(status);
      if (!child) {
        // Statuses of one class share a child: the class is computed once, not per request.
        child = duration.labels({ method, route, status_class: statusClassOf(status) });
        byStatus.set(status, child);
      }
      return child;
    };
    // The route pattern, never the raw URL: ids in paths would explode cardinality. Each
    // route gets its own hook with its pattern captured at registration (reading
    // `request.routeOptions` builds a fresh object per request); requests that matched no
    // route are observed by the instance-wide hook, which is then the only one that runs.
    app.addHook("onRoute", (route) => {
      const pattern = route.url;
      const observe: onResponseHookHandler = (request, reply, done) => {
        childFor(request.method, pattern, reply.statusCode).observe(reply.elapsedTime / 1000);
        done();
      };
      route.onResponse = route.onResponse ? [route.onResponse, observe].flat() : observe;
    });
    app.addHook("onResponse", (request, reply, done) => {
      if (request.is404)
        childFor(request.method, "unmatched", reply.statusCode).observe(reply.elapsedTime / 1000);
      done();
    });
    app.get("/metrics", { schema: { hide: true } }, async (request, reply) => {
      if (options.allowScrape && !options.allowScrape(request))
        throw new AppError("not_found", "no route GET /metrics");
      reply.type(registry.contentType);
      return registry.metrics();
    });
  },
  { name: "perseus-metrics", fastify: "5.x" },
);

// ---- the API services use to declare their own metrics --------------------------------

const NAME = /^perseus_[a-z][a-z0-9_]*[a-z0-9]$/;
const UNIT_SUFFIXES = ["_seconds", "_bytes", "_total", "_ratio"];

export type MetricOptions<L extends string> = {
  /** `perseus_<area>_<what>[_<unit>]`; counters end in `_total`. */
  name: string;
  help: string;
  labelNames?: readonly L[];
};

function checkName(name: string, kind: "counter" | "gauge" | "histogram") {
  if (!NAME.test(name)) throw new TypeError(`metric "${name}" must match ${NAME}`);
  if (kind === "counter" && !name.endsWith("_total"))
    throw new TypeError(`counter "${name}" must end in _total`);
  if (kind !== "counter" && name.endsWith("_total"))
    throw new TypeError(`only counters end in _total ("${name}" is a ${kind})`);
  if (kind === "histogram" && !UNIT_SUFFIXES.some((suffix) => name.endsWith(suffix)))
    throw new TypeError(`histogram "${name}" needs a unit suffix (${UNIT_SUFFIXES.join(", ")})`);
}

/** A counter on the service's registry (name checked against the naming rules). */
export function defineCounter<L extends string = never>(
  registry: Registry,
  options: MetricOptions<L>,
): Counter<L> {
  checkName(options.name, "counter");
  return new Counter<L>({
    name: options.name,
    help: options.help,
    labelNames: options.labelNames ?? [],
    registers: [registry],
  });
}

/**
 * A gauge on the service's registry. With `collect` it is filled at scrape time (keep that
 * cheap: read an in-memory size, or a `createScrapeSnapshot` shared with sibling gauges).
 */
export function defineGauge<L extends string = never>(
  registry: Registry,
  options: MetricOptions<L> & { collect?: (gauge: Gauge<L>) => void | Promise<void> },
): Gauge<L> {
  checkName(options.name, "gauge");
  const collect = options.collect;
  return new Gauge<L>({
    name: options.name,
    help: options.help,
    labelNames: options.labelNames ?? [],
    registers: [registry],
    ...(collect
      ? {
          collect: function (this: Gauge<L>) {
            return collect(this);
          },
        }
      : {}),
  });
}

/** A histogram on the service's registry; its name carries the unit (`_seconds`, `_bytes`). */
export function defineHistogram<L extends string = never>(
  registry: Registry,
  options: MetricOptions<L> & { buckets: readonly number[] },
): Histogram<L> {
  checkName(options.name, "histogram");
  return new Histogram<L>({
    name: options.name,
    help: options.help,
    labelNames: options.labelNames ?? [],
    buckets: [...options.buckets],
    registers: [registry],
  });
}

export type ScrapeSnapshot<T> = {
  /** The cached value, loaded again when older than the TTL; undefined when loading failed. */
  get(): Promise<T | undefined>;
};

const FAILURES = "perseus_metrics_collect_failures_total";

/**
 * A value read from Postgres or Redis at scrape time, shared by the gauges that show it and
 * reused for `ttlMs`: many scrapers (or replicas of Prometheus) cost one read per TTL. A failed
 * read counts in `perseus_metrics_collect_failures_total{collector}` and leaves the gauges
 * empty instead of failing the whole scrape.
 */
export function createScrapeSnapshot<T>(
  registry: Registry,
  options: { collector: string; ttlMs: number; load: () => Promise<T> },
): ScrapeSnapshot<T> {
  const failures =
    (registry.getSingleMetric(FAILURES) as Counter<"collector"> | undefined) ??
    defineCounter(registry, {
      name: FAILURES,
      help: "Scrape-time reads (queues, streams, outbox, database counts) that failed",
      labelNames: ["collector"],
    });
  failures.inc({ collector: options.collector }, 0);
  let loadedAt = Number.NEGATIVE_INFINITY;
  let value: T | undefined;
  let inFlight: Promise<T | undefined> | undefined;
  return {
    get() {
      if (performance.now() - loadedAt < options.ttlMs) return Promise.resolve(value);
      inFlight ??= options
        .load()
        .catch(() => {
          failures.inc({ collector: options.collector });
          return undefined;
        })
        .then((loaded) => {
          value = loaded;
          loadedAt = performance.now();
          inFlight = undefined;
          return loaded;
        });
      return inFlight;
    },
  };
}
