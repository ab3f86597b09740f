export * from "./api-keys.js";
export * from "./plugin.js";
export * from "./revocations.js";
export * from "./signer.js";
export * from "./verifier.js";
