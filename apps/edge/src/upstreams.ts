import { lookup } from "node:dns/promises";
import type { EdgeUpstreamState, EdgeUpstreamStatus } from "@perseus/contracts";
import type { UpstreamSource } from "./config.js";

/** Resolves a host name to every IPv4 address it has (several replicas behind one name). */
export type Resolver = (host: string) => Promise<string[]>;

export const systemResolver: Resolver = async (host) => {
  const addresses = await lookup(host, { all: true, family: 4 });
  return [...new Set(addresses.map((entry) => entry.address))];
};

type Upstream = {
  url: string;
  source: string;
  state: EdgeUpstreamState;
  version: string | null;
  instanceId: string | null;
  readySince: number | null;
  lastCheckedAt: number | null;
  lastError: string | null;
  checks: Record<string, string>;
  /** Bumped on each check so a slow, older answer never overwrites a newer one. */
  generation: number;
  /** Health checks in a row that timed out (a busy upstream is slow before it is down). */
  timeouts: number;
};

export type UpstreamPoolOptions = {
  service: string;
  sources: UpstreamSource[];
  healthIntervalMs: number;
  healthTimeoutMs: number;
  dnsRefreshMs: number;
  resolver?: Resolver;
  onChange?: (event: {
    service: string;
    url: string;
    from: EdgeUpstreamState;
    to: EdgeUpstreamState;
    error: string | null;
  }) => void;
};

export type UpstreamPool = {
  readonly service: string;
  /** The next ready upstream in round-robin order (skipping `exclude`), or undefined when none is ready. */
  pick(exclude?: string): string | undefined;
  /** Passive health: a connection to `url` failed, so stop sending to it until a check passes again. */
  markFailed(url: string, error: string): void;
  isReady(): boolean;
  status(now?: number): EdgeUpstreamStatus[];
  /** One round of DNS resolution and health checks; resolves when every check has answered. */
  refresh(): Promise<void>;
  /** Polls from now on (call `refresh` first to know the state at once). */
  start(): void;
  stop(): void;
};

const ReadyBody = (body: unknown) => {
  const value = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
  const text = (key: string) => (typeof value[key] === "string" ? (value[key] as string) : null);
  const checks =
    value.checks && typeof value.checks === "object"
      ? Object.fromEntries(Object.entries(value.checks).map(([k, v]) => [k, String(v)]))
      : {};
  return { version: text("version"), instanceId: text("instanceId"), checks };
};

/**
 * The upstreams of one service: their addresses (fixed or from DNS), their health from
 * polling `/readyz` plus failures seen while proxying, and round-robin selection among
 * the ready ones.
 */
export function createUpstreamPool(options: UpstreamPoolOptions): UpstreamPool {
  const resolver = options.resolver ?? systemResolver;
  const upstreams = new Map<string, Upstream>();
  let cursor = 0;
  let healthTimer: NodeJS.Timeout | undefined;
  let dnsTimer: NodeJS.Timeout | undefined;
  let lastDnsAt = 0;
  let isStopped = false;

  const add = (url: string, source: string) => {
    if (upstreams.has(url)) return;
    upstreams.set(url, {
      url,
      source,
      state: "unknown",
      version: null,
      instanceId: null,
      readySince: null,
      lastCheckedAt: null,
      lastError: null,
      checks: {},
      generation: 0,
      timeouts: 0,
    });
  };
  for (const source of options.sources) if (source.kind === "static") add(source.url, "static");

  const setState = (upstream: Upstream, next: EdgeUpstreamState, error: string | null) => {
    const previous = upstream.state;
    upstream.state = next;
    upstream.lastError = error;
    if (next === "ready") upstream.readySince ??= Date.now();
    else upstream.readySince = null;
    if (previous !== next)
      options.onChange?.({ service: options.service, url: upstream.url, from: previous, to: next, error });
  };

  const resolveDns = async () => {
    lastDnsAt = Date.now();
    for (const source of options.sources) {
      if (source.kind !== "dns") continue;
      let addresses: string[];
      try {
        addresses = await resolver(source.host);
      } catch {
        // A name with no replicas right now (scaled to 0, or not yet registered): keep what we had.
        continue;
      }
      const urls = new Set(addresses.map((address) => `${source.protocol}//${address}:${source.port}`));
      for (const url of urls) add(url, source.name);
      for (const upstream of [...upstreams.values()]) {
        if (upstream.source === source.name && !urls.has(upstream.url)) upstreams.delete(upstream.url);
      }
    }
  };

  const check = async (upstream: Upstream) => {
    const generation = ++upstream.generation;
    let next: EdgeUpstreamState;
    let error: string | null = null;
    try {
      const response = await fetch(`${upstream.url}/readyz`, {
        signal: AbortSignal.timeout(options.healthTimeoutMs),
        headers: { accept: "application/json", "user-agent": "perseus-edge-health" },
      });
      const body = ReadyBody(await response.json().catch(() => ({})));
      if (generation !== upstream.generation) return;
      upstream.version = body.version ?? upstream.version;
      upstream.instanceId = body.instanceId ?? upstream.instanceId;
      upstream.checks = body.checks;
      next = response.status === 200 ? "ready" : "not-ready";
      if (next !== "ready") error = `readyz answered ${response.status}`;
      upstream.timeouts = 0;
    } catch (cause) {
      if (generation !== upstream.generation) return;
      next = "down";
      const reason = cause as Error & { cause?: { code?: string } };
      const isTimeout = reason.name === "TimeoutError";
      error = reason.cause?.code ?? (isTimeout ? "health check timed out" : reason.message);
      // One slow answer from a ready upstream is load, not death: a refused connection or a
      // second timeout in a row takes it out of rotation (failed requests do at once).
      upstream.timeouts = isTimeout ? upstream.timeouts + 1 : 0;
      if (isTimeout && upstream.state === "ready" && upstream.timeouts < 2) {
        upstream.lastCheckedAt = Date.now();
        upstream.lastError = error;
        return;
      }
    }
    upstream.lastCheckedAt = Date.now();
    setState(upstream, next, error);
  };

  const refresh = async () => {
    if (Date.now() - lastDnsAt >= options.dnsRefreshMs) await resolveDns();
    await Promise.all([...upstreams.values()].map(check));
  };

  const schedule = () => {
    if (isStopped) return;
    healthTimer = setTimeout(() => {
      void refresh().finally(schedule);
    }, options.healthIntervalMs);
    healthTimer.unref();
  };

  return {
    service: options.service,
    pick(exclude) {
      const ready = [...upstreams.values()].filter((u) => u.state === "ready" && u.url !== exclude);
      if (!ready.length) return undefined;
      cursor = (cursor + 1) % Number.MAX_SAFE_INTEGER;
      return ready[cursor % ready.length]?.url;
    },
    markFailed(url, error) {
      const upstream = upstreams.get(url);
      if (!upstream) return;
      upstream.generation++; // an in-flight check that started before the failure must not revive it
      setState(upstream, "down", error);
    },
    isReady: () => [...upstreams.values()].some((u) => u.state === "ready"),
    status(now = Date.now()) {
      return [...upstreams.values()]
        .sort((a, b) => a.url.localeCompare(b.url))
        .map((u) => ({
          url: u.url,
          source: u.source,
          state: u.state,
          isReady: u.state === "ready",
          version: u.version,
          instanceId: u.instanceId,
          uptimeSeconds: u.readySince === null ? null : Math.max(0, Math.round((now - u.readySince) / 1000)),
          readySince: u.readySince === null ? null : new Date(u.readySince).toISOString(),
          lastCheckedAt: u.lastCheckedAt === null ? null : new Date(u.lastCheckedAt).toISOString(),
          lastError: u.lastError,
          checks: u.checks,
        }));
    },
    refresh,
    start() {
      isStopped = false;
      schedule();
      if (options.sources.some((s) => s.kind === "dns")) {
        // DNS is also refreshed between health rounds so that a scale-up is seen promptly.
        dnsTimer = setInterval(() => void resolveDns(), options.dnsRefreshMs);
        dnsTimer.unref();
      }
    },
    stop() {
      isStopped = true;
      clearTimeout(healthTimer);
      clearInterval(dnsTimer);
    },
  };
}
