import { perseusProject } from "@perseus/vitest-preset";

// Runs built services (dist/): the test command builds before testing.
export default perseusProject("e2e", { test: { testTimeout: 120_000, hookTimeout: 120_000 } });
