import { existsSync } from "node:fs";
import { join } from "node:path";
import { parser } from "@prometheus-io/lezer-promql";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ROOT, readText, SERVICES } from "./config-sources.js";
import { exposedMetricNames } from "./metric-names.js";

type Target = { expr: string; datasource?: { uid?: string } };
type Panel = {
  type: string;
  title: string;
  datasource?: { uid?: string };
  targets?: Target[];
  panels?: Panel[];
};
type Dashboard = {
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown; datasource?: { uid?: string } }[] };
};

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template.
const DATASOURCE = "${datasource}";
const dashboard = JSON.parse(readText("infra/grafana/perseus-dashboard.json")) as Dashboard;
const panelsOf = (panels: Panel[]): Panel[] =>
  panels.flatMap((panel) => [panel, ...panelsOf(panel.panels ?? [])]);
const panels = panelsOf(dashboard.panels);

/** Every PromQL expression of the dashboard: panel targets and the variables' label_values queries. */
function expressions(): { where: string; expr: string }[] {
  const fromPanels = panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ where: panel.title, expr: target.expr })),
  );
  const fromVariables = dashboard.templating.list
    .filter((variable) => variable.type === "query")
    .map((variable) => {
      const query = variable.query as string | { query: string };
      const text = typeof query === "string" ? query : query.query;
      // label_values(<selector>, <label>) is Grafana's, not PromQL: check its selector.
      const selector = /^label_values\((.+),\s*\w+\)$/.exec(text)?.[1];
      return { where: `variable ${variable.name}`, expr: selector ?? text };
    });
  return [...fromPanels, ...fromVariables];
}

/**
 * The metric names an expression selects, from a real PromQL parse (Grafana's interval
 * variables replaced by a literal duration first). Throws on a syntax error.
 */
export function metricNamesOf(expr: string): string[] {
  const promql = expr.replace(/\$__(rate_)?interval|\$__range/g, "5m");
  const tree = parser.parse(promql);
  const names: string[] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) throw new Error(`PromQL syntax error at ${node.from} in: ${promql}`);
      if (node.name === "VectorSelector") {
        const identifier = node.node.getChild("Identifier");
        if (!identifier) throw new Error(`a selector without a metric name in: ${promql}`);
        names.push(promql.slice(identifier.from, identifier.to));
      }
    },
  });
  return names;
}

describe("the Grafana dashboard", () => {
  let exposed: Map<string, Set<string>>;
  beforeAll(async () => {
    exposed = await exposedMetricNames();
  }, 120_000);

  it("queries only metrics the services expose (in-process registries of every service)", () => {
    const union = new Set([...exposed.values()].flatMap((names) => [...names]));
    const referenced = expressions().flatMap(({ where, expr }) =>
      metricNamesOf(expr).map((name) => ({ where, name })),
    );
    expect(referenced.length).toBeGreaterThan(30);
    expect(referenced.filter(({ name }) => !union.has(name))).toEqual([]);
    // The areas the dashboard is for are all there.
    const used = new Set(referenced.map(({ name }) => name));
    for (const name of [
      "perseus_http_request_duration_seconds_bucket",
      "perseus_chat_realtime_connections",
      "perseus_dispatch_robot_connections",
      "perseus_edge_websocket_connections",
      "perseus_queue_jobs",
      "perseus_dispatch_lease_expiries_total",
      "perseus_stream_consumer_lag",
      "perseus_outbox_backlog",
      "perseus_nodejs_eventloop_lag_p99_seconds",
    ])
      expect(used.has(name), name).toBe(true);
  });

  it("every service exposes the request histogram and only perseus_ names", () => {
    expect([...exposed.keys()].sort()).toEqual([...SERVICES].sort());
    for (const [service, names] of exposed) {
      expect(names.has("perseus_http_request_duration_seconds_bucket"), service).toBe(true);
      expect(
        [...names].filter((name) => !name.startsWith("perseus_")),
        service,
      ).toEqual([]);
    }
  });

  it("the name check can fail: unknown names and broken PromQL are caught", () => {
    expect(
      metricNamesOf('sum by (le) (rate(perseus_nope_seconds_bucket{service="x"}[$__rate_interval]))'),
    ).toEqual(["perseus_nope_seconds_bucket"]);
    expect(metricNamesOf("max by (topic) (perseus_outbox_backlog) / on() group_left sum(up)")).toEqual([
      "perseus_outbox_backlog",
      "up",
    ]);
    expect(() => metricNamesOf("rate(perseus_queue_jobs[5m]")).toThrow(/syntax/);
  });

  it("takes its Prometheus datasource from a variable", () => {
    const variable = dashboard.templating.list.find((item) => item.type === "datasource");
    expect(variable).toMatchObject({ name: "datasource", query: "prometheus" });
    for (const panel of panels.filter((item) => item.type !== "row")) {
      expect(panel.datasource?.uid, panel.title).toBe(DATASOURCE);
      for (const target of panel.targets ?? []) expect(target.datasource?.uid, panel.title).toBe(DATASOURCE);
    }
  });
});

describe("scrape configuration", () => {
  it("compose's Prometheus scrapes every service on the port compose gives it", () => {
    const compose = parse(readText("docker-compose.yml"), { merge: true }) as {
      services: Record<string, { environment?: Record<string, unknown> }>;
    };
    const prometheus = parse(readText("infra/prometheus/prometheus.yml")) as {
      scrape_configs: { metrics_path: string; dns_sd_configs: { names: string[]; port: number }[] }[];
    };
    const job = prometheus.scrape_configs[0];
    expect(job?.metrics_path).toBe("/metrics");
    for (const service of SERVICES) {
      const target = job?.dns_sd_configs.find((config) => config.names.includes(service));
      expect(target?.port, service).toBe(Number(compose.services[service]?.environment?.PORT));
    }
  });

  it("the monitoring compose file mounts files that exist", () => {
    const monitoring = parse(readText("infra/compose.monitoring.yml")) as {
      services: Record<string, { volumes?: string[] }>;
    };
    const mounts = Object.values(monitoring.services).flatMap((service) => service.volumes ?? []);
    expect(mounts.length).toBeGreaterThan(0);
    // Compose resolves paths of an added file against the first file's directory (the root).
    for (const mount of mounts) expect(existsSync(join(ROOT, mount.split(":")[0] ?? "")), mount).toBe(true);
  });
});
