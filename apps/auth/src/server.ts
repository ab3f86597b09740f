import { createRedisConnection } from "@perseus/bus";
import { exitWith, openServiceResources, runService, startServiceTracing } from "@perseus/kit";
import { buildApp } from "./app.js";
import { type AuthConfig, loadConfig } from "./config.js";
import { version } from "./version.js";

// Composition root: the only place that reads configuration and opens connections.
let config: AuthConfig;
try {
  config = loadConfig();
} catch (error) {
  exitWith("auth", error);
}
const resources = await openServiceResources("auth", config);
await startServiceTracing("auth", config, { version, instanceId: resources.instanceId });
// Rate-limit checks must never hold a request: no offline queue, a short command timeout.
const rateLimitRedis = createRedisConnection(config.REDIS_URL, "producer", {
  commandTimeoutMs: config.RATE_LIMIT_REDIS_TIMEOUT_MS,
  overrides: { maxRetriesPerRequest: 0 },
});
const app = await buildApp({
  config,
  instanceId: resources.instanceId,
  version,
  db: resources.db,
  redis: resources.redis,
  rateLimitRedis,
  revocations: resources.revocations,
});
resources.attach(app);
app.addHook("onClose", async () => rateLimitRedis.disconnect());
await runService(app, { port: config.PORT, host: config.HOST });
