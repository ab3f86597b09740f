#!/usr/bin/env node
// `pnpm test`: every vitest project in one run, with vitest's JSON report, then the plain
// closing line CI reads: "N passed, N failed[, N skipped]". Exits non-zero on any failure,
// on a run with no tests, and when PERSEUS_FAILED_STEPS names failed earlier steps
// (scripts/test.sh passes lint/typecheck/build failures that way; each counts as one failure).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const report = join(ROOT, "test-results", "vitest.json");
const vitest = join(ROOT, "node_modules", "vitest", "vitest.mjs");

const env = {
  ...process.env,
  DATABASE_URL: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
  REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
};
const failedSteps = (process.env.PERSEUS_FAILED_STEPS ?? "").split(",").filter(Boolean);

rmSync(report, { force: true });
mkdirSync(dirname(report), { recursive: true });
const args = [
  "run",
  "--reporter=default",
  "--reporter=json",
  `--outputFile.json=${report}`,
  ...process.argv.slice(2),
];
const exitCode = await new Promise((resolve) => {
  const child = spawn(process.execPath, [vitest, ...args], { cwd: ROOT, env, stdio: "inherit" });
  child.once("error", (error) => {
    console.error(`could not start vitest: ${error.message}`);
    resolve(1);
  });
  child.once("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
});

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(report)) {
  const result = JSON.parse(readFileSync(report, "utf8"));
  passed = result.numPassedTests ?? 0;
  failed = result.numFailedTests ?? 0;
  skipped = (result.numPendingTests ?? 0) + (result.numTodoTests ?? 0);
  // A file that failed to load (or whose hooks threw) has no failed test of its own: count it once.
  for (const file of result.testResults ?? []) {
    const hasFailedTest = (file.assertionResults ?? []).some((test) => test.status === "failed");
    if (file.status === "failed" && !hasFailedTest) {
      failed += 1;
      console.error(`test file failed: ${file.name}\n${file.message ?? ""}`);
    }
  }
} else {
  console.error("vitest wrote no JSON report");
  failed += 1;
}
if (failedSteps.length) console.error(`failed steps: ${failedSteps.join(", ")}`);
failed += failedSteps.length;
if (exitCode !== 0 && failed === 0) {
  // e.g. an unhandled error outside any test: vitest fails the run, so must we.
  console.error(`vitest exited with code ${exitCode}`);
  failed = 1;
}
if (passed + failed === 0) {
  console.error("no test ran");
  failed = 1;
}

console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 ? 1 : 0);
