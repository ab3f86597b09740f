import { z } from "zod";
import { Timestamp } from "./common.js";

// Wire schemas of the edge: the one origin that serves the console and proxies /api/<service>/...

/** What the edge last learnt about one upstream from its `/readyz`. */
export const EdgeUpstreamState = z.enum(["unknown", "ready", "not-ready", "down"]);
export type EdgeUpstreamState = z.infer<typeof EdgeUpstreamState>;

export const EdgeUpstreamStatus = z.object({
  url: z.string(),
  /** Where the address came from: `static` or the `dns://host:port` name it was resolved from. */
  source: z.string(),
  state: EdgeUpstreamState,
  isReady: z.boolean(),
  version: z.string().nullable(),
  instanceId: z.string().nullable(),
  /** Seconds the upstream has been continuously ready, as observed by this edge. */
  uptimeSeconds: z.number().nullable(),
  readySince: Timestamp.nullable(),
  lastCheckedAt: Timestamp.nullable(),
  lastError: z.string().nullable(),
  /** The upstream's own dependency checks (postgres, redis, ...) from its `/readyz`. */
  checks: z.record(z.string(), z.string()),
});
export type EdgeUpstreamStatus = z.infer<typeof EdgeUpstreamStatus>;

export const EdgeServiceStatus = z.object({
  service: z.string(),
  prefix: z.string(),
  /** At least one upstream of the service is ready. */
  isReady: z.boolean(),
  upstreams: z.array(EdgeUpstreamStatus),
});
export type EdgeServiceStatus = z.infer<typeof EdgeServiceStatus>;

/** `GET /api/edge/status`: the edge itself and every upstream of every service. */
export const EdgeStatusResponse = z.object({
  edge: z.object({
    version: z.string(),
    instanceId: z.string(),
    startedAt: Timestamp,
    uptimeSeconds: z.number(),
  }),
  /** Every service has at least one ready upstream. */
  isReady: z.boolean(),
  checkedAt: Timestamp,
  services: z.array(EdgeServiceStatus),
});
export type EdgeStatusResponse = z.infer<typeof EdgeStatusResponse>;
