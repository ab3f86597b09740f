export * from "./config.js";
export * from "./database.js";
export * from "./factories.js";
export * from "./fault-proxy.js";
export * from "./process.js";
export * from "./redis.js";
export * from "./servers.js";
export * from "./tokens.js";
