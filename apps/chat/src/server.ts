import { exitWith, openServiceResources, runService, startServiceTracing } from "@perseus/kit";
import { createRemoteJWKSet } from "jose";
import { buildApp } from "./app.js";
import { type ChatConfig, loadConfig } from "./config.js";
import { version } from "./version.js";

// Composition root: the only place that reads configuration and opens connections.
let config: ChatConfig;
try {
  config = loadConfig();
} catch (error) {
  exitWith("chat", error);
}
const resources = await openServiceResources("chat", config, { outboxRelay: config.CHAT_OUTBOX_RELAY });
await startServiceTracing("chat", config, { version, instanceId: resources.instanceId });
const app = await buildApp({
  config,
  instanceId: resources.instanceId,
  version,
  db: resources.db,
  redis: resources.redis,
  keys: createRemoteJWKSet(new URL(config.AUTH_JWKS_URL)),
  revocations: resources.revocations,
});
resources.attach(app);
await runService(app, { port: config.PORT, host: config.HOST });
