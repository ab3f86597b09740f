import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

describe("configuration docs", () => {
  it(".env.example and the README table list every variable of every service's config schema", async () => {
    // The generator reads the built schemas (dist/config.js): the test command builds first.
    const run = promisify(execFile);
    const result = await run(process.execPath, ["scripts/config-docs.mjs", "--check"], { cwd: ROOT }).catch(
      (error: { stderr?: string; code?: number }) => error,
    );
    expect("stderr" in result ? result.stderr : "").toBe("");
    expect((result as { code?: number }).code ?? 0).toBe(0);
  });
});
