import { createRequire } from "node:module";

/** The nanobot's version, sent in `hello` and shown by `--version`. */
export const version: string = (createRequire(import.meta.url)("../package.json") as { version: string })
  .version;
