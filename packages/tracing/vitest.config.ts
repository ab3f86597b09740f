import { perseusProject } from "@perseus/vitest-preset";

export default perseusProject("tracing");
