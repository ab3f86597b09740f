import { fileURLToPath } from "node:url";
import { BaseConfig, parseConfig } from "@perseus/kit";
import { z } from "zod";

/** The services behind the edge, each reached under `/api/<name>/`. */
export const SERVICES = ["auth", "chat", "dispatch", "workspace"] as const;
export type ServiceName = (typeof SERVICES)[number];

/** Where the upstreams of one service come from: fixed URLs, or every A record of a DNS name. */
export type UpstreamSource =
  | { kind: "static"; url: string }
  | { kind: "dns"; protocol: "http:" | "https:"; host: string; port: number; name: string };

/** `http://a:1,http://b:2` or `dns://chat:7702` (`dns+https://...` for TLS upstreams), comma-separated. */
const UpstreamList = z
  .string()
  .min(1)
  .transform((value, context): UpstreamSource[] => {
    const sources: UpstreamSource[] = [];
    for (const entry of value
      .split(",")
      .map((part) => part.trim())
      .filter(Boolean)) {
      let url: URL;
      try {
        url = new URL(entry);
      } catch {
        context.addIssue({ code: "custom", message: `'${entry}' is not a URL` });
        return z.NEVER;
      }
      const isPlainOrigin =
        (url.pathname === "/" || url.pathname === "") && !url.search && !url.hash && !url.username;
      if (!isPlainOrigin || !url.hostname) {
        context.addIssue({ code: "custom", message: `'${entry}' must be an origin (scheme://host:port)` });
        return z.NEVER;
      }
      if (url.protocol === "http:" || url.protocol === "https:") {
        sources.push({ kind: "static", url: url.origin });
      } else if (url.protocol === "dns:" || url.protocol === "dns+http:" || url.protocol === "dns+https:") {
        if (!url.port) {
          context.addIssue({ code: "custom", message: `'${entry}' needs a port (dns://host:port)` });
          return z.NEVER;
        }
        sources.push({
          kind: "dns",
          protocol: url.protocol === "dns+https:" ? "https:" : "http:",
          host: url.hostname,
          port: Number(url.port),
          name: entry,
        });
      } else {
        context.addIssue({ code: "custom", message: `'${entry}': use http://, https:// or dns://` });
        return z.NEVER;
      }
    }
    if (!sources.length) {
      context.addIssue({ code: "custom", message: "at least one upstream is needed" });
      return z.NEVER;
    }
    return sources;
  });

const defaultWebDist = fileURLToPath(new URL("../../web/dist", import.meta.url));
const milliseconds = (fallback: number, min = 10) => z.coerce.number().int().min(min).default(fallback);

export const EdgeConfig = BaseConfig.pick({
  NODE_ENV: true,
  LOG_LEVEL: true,
  HOST: true,
  INSTANCE_ID: true,
  PUBLIC_ORIGIN: true,
  OTEL_EXPORTER_OTLP_ENDPOINT: true,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: true,
  OTEL_EXPORTER_OTLP_HEADERS: true,
  OTEL_TRACES_SAMPLER_ARG: true,
}).extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(7700),
  // Upstreams of auth: comma-separated origins, or dns://name:port to use every A record of name.
  EDGE_UPSTREAM_AUTH: UpstreamList.default([{ kind: "static", url: "http://127.0.0.1:7701" }]),
  // Upstreams of chat (same forms, e.g. http://127.0.0.1:7702,http://127.0.0.1:7712 or dns://chat:7702).
  EDGE_UPSTREAM_CHAT: UpstreamList.default([{ kind: "static", url: "http://127.0.0.1:7702" }]),
  // Upstreams of dispatch (same forms).
  EDGE_UPSTREAM_DISPATCH: UpstreamList.default([{ kind: "static", url: "http://127.0.0.1:7703" }]),
  // Upstreams of workspace (same forms).
  EDGE_UPSTREAM_WORKSPACE: UpstreamList.default([{ kind: "static", url: "http://127.0.0.1:7704" }]),
  // The built console (apps/web/dist); served with an index.html fallback for client-side routes.
  EDGE_WEB_DIST: z.string().min(1).default(defaultWebDist),
  // How often each upstream's /readyz is polled.
  EDGE_HEALTH_INTERVAL_MS: milliseconds(2_000, 50),
  // How long one /readyz poll may take before the upstream counts as down.
  EDGE_HEALTH_TIMEOUT_MS: milliseconds(1_000, 50),
  // How often dns:// upstream names are resolved again (replicas come and go).
  EDGE_DNS_REFRESH_MS: milliseconds(5_000, 100),
  // Longest wait for an upstream's response headers, and between two body chunks (long polls fit inside).
  EDGE_UPSTREAM_TIMEOUT_MS: milliseconds(90_000, 100),
  // Largest WebSocket message the edge relays.
  EDGE_WS_MAX_PAYLOAD: z.coerce
    .number()
    .int()
    .min(1024)
    .default(16 * 1024 * 1024),
  // Trust X-Forwarded-* from the client (only behind another proxy that sets them).
  EDGE_TRUST_PROXY: z
    .enum(["true", "false", "1", "0"])
    .default("false")
    .transform((value) => value === "true" || value === "1"),
});
export type EdgeConfig = z.infer<typeof EdgeConfig>;

/** Parses the edge's settings (documented in the root .env.example). */
export function loadConfig(env: Record<string, string | undefined> = process.env): EdgeConfig {
  return parseConfig(EdgeConfig, env);
}

/** The upstream sources of every service, keyed by service name. */
export function upstreamSources(config: EdgeConfig): Record<ServiceName, UpstreamSource[]> {
  return {
    auth: config.EDGE_UPSTREAM_AUTH,
    chat: config.EDGE_UPSTREAM_CHAT,
    dispatch: config.EDGE_UPSTREAM_DISPATCH,
    workspace: config.EDGE_UPSTREAM_WORKSPACE,
  };
}
