import { defineConfig } from "vitest/config";

// One run over every package and app; each has its own vitest.config.ts (a project).
export default defineConfig({
  test: {
    projects: ["packages/*", "apps/*", "e2e", "infra"],
    globalSetup: ["./packages/testing/src/global-setup.ts"],
  },
});
