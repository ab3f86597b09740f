import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSandbox, type Sandbox, SandboxViolation } from "../src/executors/sandbox.js";
import { tempDir } from "./helper.js";

const tmp = tempDir();
let sandbox: Sandbox;
const outside = join(tmp.dir, "outside");

beforeAll(async () => {
  mkdirSync(outside);
  writeFileSync(join(outside, "secret.txt"), "canary-secret");
  sandbox = await createSandbox(join(tmp.dir, "box"));
  symlinkSync(outside, join(sandbox.root, "dir-link"));
  symlinkSync(join(outside, "secret.txt"), join(sandbox.root, "file-link"));
  mkdirSync(join(sandbox.root, "sub"));
  symlinkSync("../../outside", join(sandbox.root, "sub", "rel-link"));
});
afterAll(() => tmp.cleanup());

describe("sandbox confinement", () => {
  it("reads and writes relative paths inside the sandbox", async () => {
    await sandbox.writeFile("notes/plan.md", "# plan");
    expect(await sandbox.readFile("notes/plan.md")).toBe("# plan");
    expect(await sandbox.listDir(".")).toContain("notes/");
    expect(readFileSync(join(sandbox.root, "notes", "plan.md"), "utf8")).toBe("# plan");
  });

  it.each([
    ["../outside/secret.txt"],
    ["notes/../../outside/secret.txt"],
    ["/etc/passwd"],
    [join(outside, "secret.txt")],
    ["~/.ssh/id_rsa"],
    ["notes\\..\\..\\outside"],
    ["a\0b"],
    [""],
  ])("refuses %j", async (path) => {
    await expect(sandbox.readFile(path)).rejects.toBeInstanceOf(SandboxViolation);
    await expect(sandbox.writeFile(path, "pwned")).rejects.toBeInstanceOf(SandboxViolation);
  });

  it("refuses symlinks that lead out, for reads, writes and listings", async () => {
    for (const path of ["dir-link/secret.txt", "file-link", "sub/rel-link/secret.txt", "dir-link/new.txt"]) {
      await expect(sandbox.readFile(path), path).rejects.toBeInstanceOf(SandboxViolation);
      await expect(sandbox.writeFile(path, "pwned"), path).rejects.toBeInstanceOf(SandboxViolation);
    }
    await expect(sandbox.listDir("dir-link")).rejects.toBeInstanceOf(SandboxViolation);
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("canary-secret");
  });

  it("refuses a symlink planted inside the sandbox as the final component", async () => {
    symlinkSync(join(sandbox.root, "notes", "plan.md"), join(sandbox.root, "inner-link"));
    await expect(sandbox.readFile("inner-link")).rejects.toBeInstanceOf(SandboxViolation);
    await expect(sandbox.writeFile("inner-link", "x")).rejects.toBeInstanceOf(SandboxViolation);
  });
});
