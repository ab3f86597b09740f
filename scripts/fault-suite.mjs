#!/usr/bin/env node
// `pnpm fault-suite [--seeds 1,2,3] [--duration 300] [--no-build]`: builds the services (turbo
// caches it), then runs e2e/test/fault-suite.test.ts through vitest, which provides the test
// database template. Journals and reports land in test-results/fault-suite/.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "1,2,3" },
    duration: { type: "string", default: "300" },
    faults: { type: "string", default: "" },
    "no-build": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(
    "usage: pnpm fault-suite [--seeds 1,2,3] [--duration <seconds>] [--faults kind,…] [--no-build]\n" +
      "fault kinds: kill pause redis-kill redis-amnesia redis-pause pg-terminate redis-proxy pg-proxy (default: all)",
  );
  process.exit(0);
}
if (!/^\d+(,\d+)*$/.test(values.seeds)) {
  console.error(`--seeds must be comma-separated integers, got "${values.seeds}"`);
  process.exit(2);
}
if (!/^\d+$/.test(values.duration) || Number(values.duration) < 20) {
  console.error(`--duration must be a whole number of seconds (at least 20), got "${values.duration}"`);
  process.exit(2);
}

const run = (command, args, env = process.env) =>
  new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: "inherit" });
    child.once("error", (error) => {
      console.error(`could not start ${command}: ${error.message}`);
      resolve(1);
    });
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });

if (!values["no-build"]) {
  const apps = ["auth", "chat", "dispatch", "workspace", "edge", "nanobot"].flatMap((app) => [
    "--filter",
    `@perseus/${app}...`,
  ]);
  const code = await run(join(ROOT, "node_modules", ".bin", "turbo"), ["run", "build", ...apps]);
  if (code !== 0) process.exit(code);
}

const env = {
  ...process.env,
  DATABASE_URL: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
  REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  FAULT_SUITE_SEEDS: values.seeds,
  FAULT_SUITE_DURATION: values.duration,
  FAULT_SUITE_FAULTS: values.faults,
};
const vitest = join(ROOT, "node_modules", "vitest", "vitest.mjs");
process.exit(
  await run(process.execPath, [vitest, "run", "--project", "e2e", "e2e/test/fault-suite.test.ts"], env),
);
