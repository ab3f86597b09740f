export * from "./setup.js";
export * from "./spans.js";
export { isTracingEnabled } from "./state.js";
