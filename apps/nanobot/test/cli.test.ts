import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { APP_DIR, CLI, NODE_ARGS, tempDir } from "./helper.js";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** Runs the real CLI as a process with a clean environment (no user config, no platform variables). */
function cli(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [...NODE_ARGS, CLI, ...args], {
      cwd: APP_DIR,
      env: { PATH: process.env.PATH, HOME: tmp.dir, XDG_CONFIG_HOME: join(tmp.dir, "config"), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 25_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("perseus-nanobot CLI", () => {
  it("doctor against an unreachable URL exits non-zero with a clear table", async () => {
    const credential = `prc_${"0".repeat(8)}-0000-7000-8000-${"0".repeat(12)}_${"1".repeat(8)}-0000-7000-8000-${"0".repeat(12)}_${"a".repeat(43)}`;
    const { code, stdout, stderr } = await cli([
      "doctor",
      "--url",
      "http://127.0.0.1:9",
      "--credential",
      credential,
      "--data-dir",
      join(tmp.dir, "data"),
    ]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^CHECK\s+STATUS\s+DETAIL/m);
    expect(stdout).toMatch(/platform reachable\s+FAIL\s+http:\/\/127\.0\.0\.1:9: fetch failed/);
    expect(stdout).toMatch(/credential\s+skip\s+platform unreachable/);
    expect(stdout).toMatch(/sandbox writable\s+ok/);
    expect(stdout).toMatch(/executor\s+ok\s+shell \(bash\)/);
    expect(stderr).toMatch(/check\(s\) failed: platform reachable/);
    expect(stdout + stderr).not.toContain("a".repeat(43)); // the secret is never printed
  });

  it("run-once runs the shell executor and prints the result", async () => {
    const { code, stdout, stderr } = await cli([
      "run-once",
      "--prompt",
      "echo hello from $(basename $PWD | cut -c1-3)",
      "--data-dir",
      join(tmp.dir, "data"),
    ]);
    expect(stderr).toContain("hello from");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^hello from [0-9a-f]{3}\n$/);
  });

  it("run-once reports a failing task with exit code 1", async () => {
    const { code, stderr } = await cli([
      "run-once",
      "--prompt",
      "echo no >&2; exit 7",
      "--quiet",
      "--data-dir",
      join(tmp.dir, "data"),
    ]);
    expect(code).toBe(1);
    expect(stderr).toContain("task failed: bash ended with exit code 7:\nno");
  });

  it("run-once uses the command executor from the config file", async () => {
    const config = join(tmp.dir, "command.json");
    writeFileSync(
      config,
      JSON.stringify({ executor: { type: "command", command: ["printf", "agent got: %s", "{prompt}"] } }),
    );
    const { code, stdout } = await cli([
      "run-once",
      "--config",
      config,
      "--prompt",
      "a; rm -rf ~",
      "--quiet",
      "--data-dir",
      join(tmp.dir, "data"),
    ]);
    expect(code).toBe(0);
    expect(stdout).toBe("agent got: a; rm -rf ~");
  });

  it("connect without a credential, or with a broken config file, exits 64 with a clear message", async () => {
    const missing = await cli(["connect", "--url", "http://127.0.0.1:9"]);
    expect(missing.code).toBe(64);
    expect(missing.stderr).toMatch(/no robot credential: pass --credential, set PERSEUS_ROBOT_CREDENTIAL/);

    const config = join(tmp.dir, "broken.json");
    writeFileSync(
      config,
      JSON.stringify({ url: "http://x", concurrency: 0, executor: { type: "teleport" } }),
    );
    const broken = await cli(["connect", "--config", config]);
    expect(broken.code).toBe(64);
    expect(broken.stderr).toMatch(/broken\.json is invalid:\n/);
    expect(broken.stderr).toMatch(/^\s+concurrency: Too small/m);
    expect(broken.stderr).toMatch(/^\s+executor\.type: Invalid option/m);
  });
});
