// Benchmark driver: `pnpm bench [b4 …] [--reps N] [--duration S]`. Prints tables and
// writes machine-readable results to bench/results/. Never gates CI on a timing.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { runB4 } from "./b4-auth/index.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    reps: { type: "string", default: "3" },
    duration: { type: "string", default: "5" },
    "admin-url": {
      type: "string",
      default: process.env.DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/perseus",
    },
  },
});
const selected = positionals.length ? positionals : ["b4"];
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
  if (name === "b4") results.b4 = await runB4({ reps, durationSeconds, adminUrl: values["admin-url"]! });
  else console.error(`unknown benchmark ${name}`);
}
mkdirSync("results", { recursive: true });
const file = `results/${new Date().toISOString().replaceAll(":", "-")}.json`;
writeFileSync(
  file,
  JSON.stringify({ date: new Date().toISOString(), machine, reps, durationSeconds, results }, null, 2),
);
console.log(`\nresults written to bench/${file}`);
