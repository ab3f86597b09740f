import { EdgeStatusResponse } from "@perseus/contracts";
import type { FastifyInstance } from "fastify";
import type { UpstreamPool } from "./upstreams.js";

export type StatusOptions = {
  pools: UpstreamPool[];
  version: string;
  instanceId: string;
  startedAt: number;
};

/** Every service that has no ready upstream right now (empty: the edge is ready). */
export function unreadyServices(pools: UpstreamPool[]): string[] {
  return pools.filter((pool) => !pool.isReady()).map((pool) => pool.service);
}

/** `GET /api/edge/status`: each upstream with its health, version, instance id and uptime. */
export function registerStatus(app: FastifyInstance, options: StatusOptions) {
  app.get(
    "/api/edge/status",
    {
      schema: {
        summary: "The edge and the readiness of every upstream of every service",
        tags: ["edge"],
        response: { 200: EdgeStatusResponse },
      },
    },
    async (_request, reply) => {
      const now = Date.now();
      reply.header("cache-control", "no-store");
      const services = options.pools.map((pool) => ({
        service: pool.service,
        prefix: `/api/${pool.service}`,
        isReady: pool.isReady(),
        upstreams: pool.status(now),
      }));
      return {
        edge: {
          version: options.version,
          instanceId: options.instanceId,
          startedAt: new Date(options.startedAt).toISOString(),
          uptimeSeconds: Math.round((now - options.startedAt) / 1000),
        },
        isReady: services.every((service) => service.isReady),
        checkedAt: new Date(now).toISOString(),
        services,
      };
    },
  );
}
