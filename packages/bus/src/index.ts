export * from "./consumer.js";
export * from "./events.js";
export * from "./keys.js";
export * from "./log.js";
export * from "./outbox.js";
export * from "./queues.js";
export * from "./redis.js";
export * from "./relay.js";
