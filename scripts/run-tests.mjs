#!/usr/bin/env node
// `pnpm test`: every vitest project, with vitest's JSON report, then the plain closing line
// CI reads: "N passed, N failed[, N skipped]". Exits non-zero on any failure, on a run with
// no tests, and when PERSEUS_FAILED_STEPS names failed earlier steps (scripts/test.sh passes
// lint/typecheck/build failures that way; each counts as one failure).
//
// A full run (no arguments) starts the T17 fault suite first, as a vitest run of its own
// beside the main one: it is five minutes of mostly waiting on its own platforms, and the
// main run uses one worker on a two-core machine, so run one after the other it only added
// its length to the total. Its output goes to test-results/fault-suite.log and its summary
// is printed at the end. PERSEUS_FAULT_SUITE_INLINE=1 keeps it inside the main run.
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const RESULTS = join(ROOT, "test-results");
const vitest = join(ROOT, "node_modules", "vitest", "vitest.mjs");
const FAULT_SUITE = "e2e/test/fault-suite.test.ts";

const env = {
  ...process.env,
  DATABASE_URL: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
  REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
};
const failedSteps = (process.env.PERSEUS_FAILED_STEPS ?? "").split(",").filter(Boolean);
const extraArgs = process.argv.slice(2);
const faultSuiteApart = extraArgs.length === 0 && process.env.PERSEUS_FAULT_SUITE_INLINE !== "1";

/** One vitest run writing its JSON report to `report`; resolves with its exit code. */
function runVitest(args, report, options = {}) {
  rmSync(report, { force: true });
  const child = spawn(
    process.execPath,
    [vitest, "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...args],
    {
      cwd: ROOT,
      env: { ...env, ...options.env },
      stdio: options.log ? ["ignore", "pipe", "pipe"] : "inherit",
    },
  );
  if (options.log) {
    const log = createWriteStream(options.log);
    child.stdout.pipe(log);
    child.stderr.pipe(log);
  }
  return new Promise((resolve) => {
    child.once("error", (error) => {
      console.error(`could not start vitest: ${error.message}`);
      resolve(1);
    });
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/** Counts of one JSON report; a missing report or a file that failed to load counts as a failure. */
function countsOf(report, exitCode) {
  const counts = { passed: 0, failed: 0, skipped: 0 };
  if (existsSync(report)) {
    const result = JSON.parse(readFileSync(report, "utf8"));
    counts.passed = result.numPassedTests ?? 0;
    counts.failed = result.numFailedTests ?? 0;
    counts.skipped = (result.numPendingTests ?? 0) + (result.numTodoTests ?? 0);
    // A file that failed to load (or whose hooks threw) has no failed test of its own: count it once.
    for (const file of result.testResults ?? []) {
      const hasFailedTest = (file.assertionResults ?? []).some((test) => test.status === "failed");
      if (file.status === "failed" && !hasFailedTest) {
        counts.failed += 1;
        console.error(`test file failed: ${file.name}\n${file.message ?? ""}`);
      }
    }
  } else {
    console.error(`vitest wrote no JSON report (${report})`);
    counts.failed += 1;
  }
  if (exitCode !== 0 && counts.failed === 0) {
    // e.g. an unhandled error outside any test: vitest fails the run, so must we.
    console.error(`vitest exited with code ${exitCode}`);
    counts.failed = 1;
  }
  return counts;
}

mkdirSync(RESULTS, { recursive: true });
const faultLog = join(RESULTS, "fault-suite.log");
const faultReport = join(RESULTS, "vitest-fault-suite.json");
let faultSuite = Promise.resolve(null);
if (faultSuiteApart) {
  console.log(`the T17 fault suite runs alongside; its output: ${faultLog}`);
  faultSuite = runVitest(["--project", "e2e", FAULT_SUITE], faultReport, { log: faultLog });
}
const mainReport = join(RESULTS, "vitest.json");
const mainExit = await runVitest(extraArgs, mainReport, {
  env: faultSuiteApart ? { PERSEUS_EXCLUDE_FAULT_SUITE: "1" } : {},
});
const total = countsOf(mainReport, mainExit);

const faultExit = await faultSuite;
if (faultExit !== null) {
  const lines = stripVTControlCharacters(readFileSync(faultLog, "utf8")).split("\n");
  // The checker's summary (each seed's invariants with their counts) and vitest's totals.
  const start = lines.findIndex((line) => line.startsWith("fault suite summary"));
  const end = start < 0 ? -1 : lines.findIndex((line, index) => index > start && line.trim() === "");
  const summary = start < 0 ? [] : lines.slice(start, end < 0 ? undefined : end);
  const shown = [...summary, ...lines.filter((line) => /^\s*(Tests|Test Files)\s/.test(line))];
  console.log(`\n==> T17 fault suite (${faultLog})\n${shown.join("\n")}`);
  if (faultExit !== 0) console.log(lines.slice(-80).join("\n"));
  const fault = countsOf(faultReport, faultExit);
  total.passed += fault.passed;
  total.failed += fault.failed;
  total.skipped += fault.skipped;
}

if (failedSteps.length) console.error(`failed steps: ${failedSteps.join(", ")}`);
total.failed += failedSteps.length;
if (total.passed + total.failed === 0) {
  console.error("no test ran");
  total.failed = 1;
}

const { passed, failed, skipped } = total;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 ? 1 : 0);
