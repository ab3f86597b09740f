import { defaultInstanceId, runService } from "@perseus/kit";
import { buildApp } from "./app.js";
import { loadConfig } from "./config.js";
import { version } from "./version.js";

// Composition root: the only place that reads configuration.
const config = loadConfig();
const app = await buildApp({ config, instanceId: config.INSTANCE_ID ?? defaultInstanceId("edge"), version });
await runService(app, { port: config.PORT, host: config.HOST });
