import { perseusProject } from "@perseus/vitest-preset";

// Runs built services (dist/): the test command builds before testing. Polls wait long:
// a loaded CI machine may take seconds where a quiet one takes milliseconds.
export default perseusProject("e2e", {
  test: { testTimeout: 120_000, hookTimeout: 120_000, expect: { poll: { timeout: 30_000, interval: 100 } } },
});
