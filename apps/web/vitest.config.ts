import { perseusProject } from "@perseus/vitest-preset";

export default perseusProject("web", { test: { include: ["src/**/*.test.ts"] } });
