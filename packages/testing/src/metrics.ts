import { createRequire } from "node:module";

// A CommonJS package without type declarations: loaded with require and typed here.
const parsePrometheusTextFormat = createRequire(import.meta.url)("parse-prometheus-text-format") as (
  text: string,
) => unknown[];

/** One parsed metric family of a Prometheus text exposition. */
export type MetricFamily = {
  name: string;
  help: string;
  type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
  metrics: { value?: string; labels?: Record<string, string> }[];
};

export type Scrape = {
  /** Every family name the exposition declares. */
  names(): string[];
  family(name: string): MetricFamily | undefined;
  /**
   * The value of the counter or gauge sample whose labels include `labels`; undefined when
   * there is none. Throws when several samples match (the test should be more specific).
   */
  value(name: string, labels?: Record<string, string>): number | undefined;
};

/** Something that answers `GET /metrics`: a Fastify app (inject) or a base URL of a running process. */
export type MetricsSource =
  | string
  | { inject(request: { method: "GET"; url: string }): PromiseLike<{ statusCode: number; body: string }> };

/** Parses a Prometheus text exposition (throws on a malformed line). */
export function parseMetrics(text: string): Scrape {
  const families = parsePrometheusTextFormat(text) as MetricFamily[];
  const byName = new Map(families.map((family) => [family.name, family]));
  return {
    names: () => [...byName.keys()],
    family: (name) => byName.get(name),
    value(name, labels = {}) {
      const family = byName.get(name);
      if (!family) return undefined;
      const matches = family.metrics.filter((sample) =>
        Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value),
      );
      if (matches.length > 1)
        throw new Error(`${matches.length} samples of ${name} match ${JSON.stringify(labels)}`);
      const sample = matches[0];
      return sample?.value === undefined ? undefined : Number(sample.value);
    },
  };
}

/** Scrapes `/metrics` of an app or a running service and parses it. */
export async function scrapeMetrics(source: MetricsSource): Promise<Scrape> {
  if (typeof source === "string") {
    const response = await fetch(new URL("/metrics", source));
    if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
    return parseMetrics(await response.text());
  }
  const response = await source.inject({ method: "GET", url: "/metrics" });
  if (response.statusCode !== 200) throw new Error(`GET /metrics answered ${response.statusCode}`);
  return parseMetrics(response.body);
}
