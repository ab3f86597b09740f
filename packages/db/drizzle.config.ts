import { defineConfig } from "drizzle-kit";

// Only `generate` is used: migrations are applied by our own migrate command, which
// also sets up roles, row-level security and grants.
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/schema/index.ts",
  out: "./migrations",
  casing: "snake_case",
});
