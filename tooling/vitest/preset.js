import { defineProject } from "vitest/config";

/** The shared test settings of a package or app: read sources, real infrastructure. */
export function perseusProject(name, overrides = {}) {
  return defineProject({
    resolve: { conditions: ["@perseus/source"] },
    ssr: { resolve: { conditions: ["@perseus/source"] } },
    ...overrides,
    test: {
      name,
      environment: "node",
      include: ["src/**/*.test.ts", "test/**/*.test.ts"],
      testTimeout: 30_000,
      hookTimeout: 60_000,
      ...overrides.test,
    },
  });
}
