import { createServiceApp } from "@perseus/kit";
import type { FastifyInstance } from "fastify";
import { type EdgeConfig, SERVICES, upstreamSources } from "./config.js";
import { registerConsole } from "./console.js";
import { createEdgeMetrics } from "./metrics.js";
import { registerServiceProxy } from "./proxy.js";
import { isDirectPrivateRequest } from "./scrape-guard.js";
import { registerStatus, unreadyServices } from "./status.js";
import { createUpstreamPool, type Resolver, type UpstreamPool } from "./upstreams.js";

export type EdgeDeps = {
  config: EdgeConfig;
  instanceId: string;
  version: string;
  /** DNS resolution for dns:// upstreams (tests pass a fake). */
  resolver?: Resolver;
};

export const PREFIX = "/api/edge";

/** Builds the edge. Never listens: server.ts (or a test) decides that. */
export async function buildApp(deps: EdgeDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const startedAt = Date.now();
  const sources = upstreamSources(config);
  let log: FastifyInstance["log"] | undefined;
  const pools: UpstreamPool[] = SERVICES.map((service) =>
    createUpstreamPool({
      service,
      sources: sources[service],
      healthIntervalMs: config.EDGE_HEALTH_INTERVAL_MS,
      healthTimeoutMs: config.EDGE_HEALTH_TIMEOUT_MS,
      dnsRefreshMs: config.EDGE_DNS_REFRESH_MS,
      ...(deps.resolver ? { resolver: deps.resolver } : {}),
      onChange: ({ url, to, error }) => {
        const message = `${service} upstream ${url} is ${to}`;
        if (to === "ready") log?.info(message);
        else log?.warn(error ? { reason: error } : {}, message);
      },
    }),
  );

  const app = await createServiceApp({
    name: "edge",
    version: deps.version,
    prefix: PREFIX,
    description: "One origin: the console and /api/<service>/... proxied to the services",
    instanceId: deps.instanceId,
    logLevel: config.LOG_LEVEL,
    trustProxy: config.EDGE_TRUST_PROXY,
    allowMetricsScrape: isDirectPrivateRequest,
    checks: [
      {
        name: "upstreams",
        check: async () => {
          const missing = unreadyServices(pools);
          if (missing.length) throw new Error(`no ready upstream for ${missing.join(", ")}`);
        },
      },
    ],
  });
  log = app.log;

  const metrics = createEdgeMetrics(app.metrics, SERVICES);
  for (const pool of pools) {
    await registerServiceProxy(app, `/api/${pool.service}`, {
      webSockets: metrics.webSockets(pool.service),
      pool,
      trustProxy: config.EDGE_TRUST_PROXY,
      timeoutMs: config.EDGE_UPSTREAM_TIMEOUT_MS,
      wsMaxPayload: config.EDGE_WS_MAX_PAYLOAD,
    });
  }
  registerStatus(app, { pools, version: deps.version, instanceId: deps.instanceId, startedAt });
  await registerConsole(app, { distDir: config.EDGE_WEB_DIST });

  // Know every upstream's state before taking traffic, then keep polling.
  app.addHook("onReady", async () => {
    await Promise.all(pools.map((pool) => pool.refresh()));
    for (const pool of pools) pool.start();
  });
  app.addHook("onClose", async () => {
    for (const pool of pools) pool.stop();
  });
  return app;
}
