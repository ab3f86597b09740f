import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { collectDefaultMetrics, Histogram, Registry } from "prom-client";

declare module "fastify" {
  interface FastifyInstance {
    /** This service's Prometheus registry: modules register their own metrics here. */
    metrics: Registry;
  }
}

/**
 * Prometheus metrics with a registry per app (not the global one), so several services
 * can share a process in local mode without clashing.
 */
export const metricsPlugin = fp(
  async (app: FastifyInstance, options: { service: string; instanceId: string }) => {
    const registry = new Registry();
    registry.setDefaultLabels({ service: options.service, instance: options.instanceId });
    collectDefaultMetrics({ register: registry });
    const duration = new Histogram({
      name: "http_request_duration_seconds",
      help: "HTTP request latency by route and status",
      labelNames: ["method", "route", "status"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
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
        child = duration.labels({ method, route, status });
        byStatus.set(status, child);
      }
      return child;
    };
    app.addHook("onResponse", (request, reply, done) => {
      // The route pattern, never the raw URL: ids in paths would explode cardinality.
      const route = request.routeOptions.url ?? "unmatched";
      childFor(request.method, route, reply.statusCode).observe(reply.elapsedTime / 1000);
      done();
    });
    app.get("/metrics", { schema: { hide: true } }, async (_request, reply) => {
      reply.type(registry.contentType);
      return registry.metrics();
    });
  },
  { name: "perseus-metrics", fastify: "5.x" },
);
