import { exitWith, openServiceResources, runService, startServiceTracing } from "@perseus/kit";
import { createRemoteJWKSet } from "jose";
import { buildApp } from "./app.js";
import { loadConfig, type WorkspaceConfig } from "./config.js";
import { createStorage } from "./storage/index.js";
import { version } from "./version.js";

// Composition root: the only place that reads configuration and opens connections.
let config: WorkspaceConfig;
try {
  config = loadConfig();
} catch (error) {
  exitWith("workspace", error);
}
const resources = await openServiceResources("workspace", config);
await startServiceTracing("workspace", config, { version, instanceId: resources.instanceId });
const storage = await createStorage(config);
const app = await buildApp({
  config,
  instanceId: resources.instanceId,
  version,
  db: resources.db,
  redis: resources.redis,
  keys: createRemoteJWKSet(new URL(config.AUTH_JWKS_URL)),
  revocations: resources.revocations,
  storage,
});
resources.attach(app);
await runService(app, { port: config.PORT, host: config.HOST });
