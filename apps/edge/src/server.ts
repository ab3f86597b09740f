import { defaultInstanceId, runService, startServiceTracing } from "@perseus/kit";
import { buildApp } from "./app.js";
import { loadConfig } from "./config.js";
import { version } from "./version.js";

// Composition root: the only place that reads configuration.
const config = loadConfig();
const instanceId = config.INSTANCE_ID ?? defaultInstanceId("edge");
await startServiceTracing("edge", config, { version, instanceId });
const app = await buildApp({ config, instanceId, version });
await runService(app, { port: config.PORT, host: config.HOST });
