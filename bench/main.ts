// Benchmark driver: `pnpm bench [b4 …] [--reps N] [--duration S]`. Prints tables and
// writes machine-readable results to bench/results/. Never gates CI on a timing.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    reps: { type: "string", default: "3" },
    duration: { type: "string", default: "5" },
    // Benchmarks with a size scale (b7) go to their largest case (1 GB files) only when asked.
    big: { type: "boolean", default: false },
    "admin-url": {
      type: "string",
      default: process.env.DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/perseus",
    },
  },
});
/**
 * Each benchmark lives in its own folder and exports `run(options)`; loaded on demand so one
 * benchmark's dependencies never slow another's start.
 */
const benchmarks: Record<string, string> = {
  b1: "./b1-fanout/index.js",
  b2: "./b2-pipeline/index.js",
  b3: "./b3-dispatch/index.js",
  b4: "./b4-auth/index.js",
  b5: "./b5-persistence/index.js",
  b6: "./b6-connections/index.js",
  b7: "./b7-workspace/index.js",
};
export type BenchOptions = { reps: number; durationSeconds: number; adminUrl: string; big: boolean };
type BenchModule = { run: (options: BenchOptions) => Promise<unknown> };

const selected = positionals.length ? positionals : Object.keys(benchmarks);
const reps = Number(values.reps);
const durationSeconds = Number(values.duration);
const machine = {
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  memoryGb: Math.round(totalmem() / 2 ** 30),
};
console.log(
  `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB; reps ${reps}, ${durationSeconds} s each`,
);

const results: Record<string, unknown> = {};
for (const name of selected) {
  console.log(`\n== ${name} ==`);
  const path = benchmarks[name];
  if (!path) {
    console.error(`unknown benchmark ${name}; known: ${Object.keys(benchmarks).join(", ")}`);
    process.exitCode = 2;
    continue;
  }
  const module = (await import(path)) as BenchModule;
  results[name] = await module.run({
    reps,
    durationSeconds,
    adminUrl: values["admin-url"]!,
    big: values.big ?? false,
  });
}
mkdirSync("results", { recursive: true });
const file = `results/${new Date().toISOString().replaceAll(":", "-")}.json`;
writeFileSync(
  file,
  JSON.stringify({ date: new Date().toISOString(), machine, reps, durationSeconds, results }, null, 2),
);
console.log(`\nresults written to bench/${file}`);
