import { assertNoEviction } from "@perseus/bus";
import { exitWith, openServiceResources, runService, startServiceTracing } from "@perseus/kit";
import { createRemoteJWKSet } from "jose";
import { buildApp } from "./app.js";
import { type DispatchConfig, loadConfig } from "./config.js";
import { version } from "./version.js";

// Composition root: the only place that reads configuration and opens connections.
let config: DispatchConfig;
try {
  config = loadConfig();
} catch (error) {
  exitWith("dispatch", error);
}
// The dispatch runtime runs its own outbox relay (with its other background work).
const resources = await openServiceResources("dispatch", config, { outboxRelay: false });
await startServiceTracing("dispatch", config, { version, instanceId: resources.instanceId });
try {
  // BullMQ jobs and stream entries must never be evicted.
  await assertNoEviction(resources.redis);
} catch (error) {
  exitWith("dispatch", error);
}
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
// onClose hooks run last-added first: workers and the relay finish before the pool closes.
app.addHook("onClose", async () => app.dispatch.stop());
await runService(app, { port: config.PORT, host: config.HOST });
