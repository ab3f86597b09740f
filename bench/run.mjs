#!/usr/bin/env node
// Entry point of `pnpm bench [name…]`: runs the TypeScript benchmark driver with tsx.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", join(here, "main.ts"), ...process.argv.slice(2)],
  {
    cwd: here,
    stdio: "inherit",
  },
);
process.exit(result.status ?? 1);
