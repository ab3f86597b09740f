import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createTestDatabase, createTestRedis, createTestTokens } from "@perseus/testing";
import { ROOT, SERVICES, type ServiceName } from "./config-sources.js";

type MetricObject = { name: string; type: string };
type App = { metrics: { getMetricsAsArray(): MetricObject[] }; close(): Promise<unknown> };
type AppModule = { buildApp(deps: Record<string, unknown>): Promise<App> };

async function load<T>(service: ServiceName, file: string): Promise<T> {
  const path = join(ROOT, "apps", service, "dist", file);
  if (!existsSync(path)) throw new Error(`${path} is missing: run pnpm build first`);
  return (await import(pathToFileURL(path).href)) as T;
}

/** Sample names a metric family produces on the wire (a histogram's _bucket, _sum and _count). */
function sampleNames(metric: MetricObject): string[] {
  if (metric.type === "histogram")
    return [`${metric.name}_bucket`, `${metric.name}_sum`, `${metric.name}_count`];
  if (metric.type === "summary") return [metric.name, `${metric.name}_sum`, `${metric.name}_count`];
  return [metric.name];
}

/**
 * Builds every service from its dist/ in this process, on a test database and Redis (not
 * started: no listener, no background work), and returns the metric names each registers.
 * Every metric is registered when the app is built, so no traffic is needed.
 */
export async function exposedMetricNames(): Promise<Map<ServiceName, Set<string>>> {
  const [database, redis, tokens] = await Promise.all([
    createTestDatabase({ poolSize: 4 }),
    createTestRedis(),
    createTestTokens(),
  ]);
  const storageDir = await mkdtemp(join(tmpdir(), "perseus-metrics-"));
  const env = {
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: redis.prefix,
    AUTH_ISSUER: tokens.issuer,
    PUBLIC_ORIGIN: "http://console.perseus.test",
    PORT: "0",
    WORKSPACE_STORAGE_DIR: storageDir,
    ...Object.fromEntries(
      ["AUTH", "CHAT", "DISPATCH", "WORKSPACE"].map((name) => [
        `EDGE_UPSTREAM_${name}`,
        "http://127.0.0.1:9",
      ]),
    ),
  };
  const names = new Map<ServiceName, Set<string>>();
  const apps: App[] = [];
  try {
    for (const service of SERVICES) {
      const { loadConfig } = await load<{ loadConfig(env: Record<string, string>): unknown }>(
        service,
        "config.js",
      );
      const { buildApp } = await load<AppModule>(service, "app.js");
      const storage =
        service === "workspace"
          ? await (
              await load<{ createLocalStorage(options: { root: string }): Promise<unknown> }>(
                service,
                "storage/index.js",
              )
            ).createLocalStorage({ root: storageDir })
          : undefined;
      const app = await buildApp({
        config: loadConfig(env),
        instanceId: `${service}-metrics-probe`,
        version: "test",
        db: database.db,
        redis: redis.client,
        keys: tokens.keys,
        revocations: tokens.revocations,
        ...(storage ? { storage } : {}),
      });
      apps.push(app);
      names.set(service, new Set(app.metrics.getMetricsAsArray().flatMap(sampleNames)));
    }
  } finally {
    for (const app of apps) await app.close().catch(() => {});
    await redis.cleanup();
    await database.drop();
    await rm(storageDir, { recursive: true, force: true });
  }
  return names;
}
