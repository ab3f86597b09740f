import { perseusProject } from "@perseus/vitest-preset";

// Reads the built services' config schemas (dist/): the test command builds first.
export default perseusProject("infra");
