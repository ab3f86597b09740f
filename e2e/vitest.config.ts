import { perseusProject } from "@perseus/vitest-preset";
import { configDefaults } from "vitest/config";

// Runs built services (dist/): the test command builds before testing. Polls wait long:
// a loaded CI machine may take seconds where a quiet one takes milliseconds.
// scripts/run-tests.mjs runs the fault suite as a run of its own beside the main one.
export default perseusProject("e2e", {
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    expect: { poll: { timeout: 30_000, interval: 100 } },
    exclude: [
      ...configDefaults.exclude,
      ...(process.env.PERSEUS_EXCLUDE_FAULT_SUITE === "1" ? ["test/fault-suite.test.ts"] : []),
    ],
  },
});
