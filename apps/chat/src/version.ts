import { createRequire } from "node:module";

/** The package version, reported by health checks and the service registry. */
export const version: string = (createRequire(import.meta.url)("../package.json") as { version: string })
  .version;
