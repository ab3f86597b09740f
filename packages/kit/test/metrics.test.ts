import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createScrapeSnapshot,
  createServiceApp,
  defineCounter,
  defineGauge,
  defineHistogram,
} from "../src/index.js";

const build = async (name: string) => {
  const app = await createServiceApp({
    name,
    version: "0.0.0",
    prefix: `/api/${name}`,
    description: "metrics probe",
    logLevel: "silent",
    checks: [],
  });
  app.get(`/api/${name}/things/:id`, async () => ({ ok: true }));
  return app;
};

let one: FastifyInstance;
let two: FastifyInstance;
beforeAll(async () => {
  // Two services in one process, as in local mode: each keeps its own registry.
  one = await build("one");
  two = await build("two");
});
afterAll(async () => {
  await Promise.all([one.close(), two.close()]);
});

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string };
/** The registry's samples as prom-client reports them (the services' tests parse the text format). */
async function samples(app: FastifyInstance) {
  const families = await app.metrics.getMetricsAsJSON();
  const byName = new Map(families.map((family) => [family.name, family.values as Sample[]]));
  return {
    names: () => [...byName.keys()],
    value(name: string, labels: Record<string, string> = {}) {
      const matches = (byName.get(name) ?? []).filter((sample) =>
        Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
      );
      expect(matches.length).toBeLessThanOrEqual(1);
      return matches[0]?.value;
    },
  };
}

type HistogramValue = { labels: Record<string, string | number>; value: number; metricName?: string };
async function requestCounts(app: FastifyInstance) {
  const metric = app.metrics.getSingleMetric("perseus_http_request_duration_seconds");
  const values = ((await metric?.get())?.values ?? []) as HistogramValue[];
  return values.filter((value) => value.metricName === "perseus_http_request_duration_seconds_count");
}

describe("request metrics", () => {
  it("labels requests by route pattern and status class, per app", async () => {
    for (const id of ["1", "2", "3"]) await one.inject({ method: "GET", url: `/api/one/things/${id}` });
    await one.inject({ method: "GET", url: "/nowhere/at/all" });

    const counts = await requestCounts(one);
    const things = counts.filter((value) => value.labels.route === "/api/one/things/:id");
    expect(things).toEqual([
      expect.objectContaining({
        value: 3,
        labels: expect.objectContaining({ method: "GET", status_class: "2xx" }),
      }),
    ]);
    expect(counts.find((value) => value.labels.route === "unmatched")?.labels.status_class).toBe("4xx");
    // No raw URL ever becomes a label value.
    expect(counts.some((value) => String(value.labels.route).includes("/things/1"))).toBe(false);
    // The other app's registry saw none of it.
    expect(
      (await requestCounts(two)).filter((value) => String(value.labels.route).startsWith("/api/one")),
    ).toEqual([]);
  });

  it("exposes only perseus_ names, labelled with the service", async () => {
    const response = await two.inject({ method: "GET", url: "/metrics" });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('perseus_process_cpu_seconds_total{service="two"');
    const scrape = await samples(two);
    expect(scrape.names().length).toBeGreaterThan(10);
    expect(scrape.names().filter((name) => !name.startsWith("perseus_"))).toEqual([]);
    expect(scrape.names()).toContain("perseus_nodejs_eventloop_lag_p99_seconds");
    expect(scrape.names()).toContain("perseus_http_request_duration_seconds");
  });
});

describe("service metric API", () => {
  it("refuses names without the prefix or the unit conventions", () => {
    const registry = one.metrics;
    expect(() => defineCounter(registry, { name: "robots_total", help: "x" })).toThrow(/perseus_/);
    expect(() => defineCounter(registry, { name: "perseus_robots", help: "x" })).toThrow(/_total/);
    expect(() => defineGauge(registry, { name: "perseus_robots_total", help: "x" })).toThrow(/only counters/);
    expect(() => defineHistogram(registry, { name: "perseus_upload_size", help: "x", buckets: [1] })).toThrow(
      /unit suffix/,
    );
  });

  it("reads a scrape-time snapshot once per TTL and survives a failing read", async () => {
    const registry = one.metrics;
    let loads = 0;
    let isFailing = false;
    const snapshot = createScrapeSnapshot(registry, {
      collector: "probe",
      ttlMs: 60_000,
      load: async () => {
        loads++;
        if (isFailing) throw new Error("redis away");
        return 7;
      },
    });
    defineGauge(registry, {
      name: "perseus_probe_things",
      help: "probe",
      collect: async (gauge) => {
        gauge.reset();
        const value = await snapshot.get();
        if (value !== undefined) gauge.set(value);
      },
    });
    const scrapes = await Promise.all([1, 2, 3].map(() => one.inject({ method: "GET", url: "/metrics" })));
    for (const scrape of scrapes) expect(scrape.body).toMatch(/^perseus_probe_things\{[^}]*\} 7$/m);
    expect((await samples(one)).value("perseus_probe_things")).toBe(7);
    expect(loads).toBe(1);

    // A failing read: the scrape still answers, the gauge is empty and the failure is counted.
    const failing = createScrapeSnapshot(registry, {
      collector: "probe-failing",
      ttlMs: 60_000,
      load: async () => {
        loads++;
        throw new Error("postgres away");
      },
    });
    defineGauge(registry, {
      name: "perseus_probe_failing",
      help: "probe",
      labelNames: ["kind"],
      collect: async (gauge) => {
        gauge.reset();
        const value = await failing.get();
        if (value !== undefined) gauge.set({ kind: "probe" }, value);
      },
    });
    isFailing = true;
    const response = await one.inject({ method: "GET", url: "/metrics" });
    expect(response.statusCode).toBe(200);
    const scrape = await samples(one);
    expect(scrape.value("perseus_probe_failing")).toBeUndefined();
    expect(scrape.value("perseus_metrics_collect_failures_total", { collector: "probe-failing" })).toBe(1);
    expect(scrape.value("perseus_metrics_collect_failures_total", { collector: "probe" })).toBe(0);
  });
});
