#!/usr/bin/env node
import { loadMigrateConfig } from "./config.js";
import { migrate } from "./migrate.js";

const config = loadMigrateConfig();
try {
  await migrate({ ...config, log: (line) => console.log(`[migrate] ${line}`) });
} catch (error) {
  console.error(`[migrate] failed: ${(error as Error).message}`);
  process.exitCode = 1;
}
