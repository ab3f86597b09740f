export * from "./auth.js";
export * from "./chat.js";
export * from "./dispatch.js";
export * from "./platform.js";
export * from "./workspace.js";
