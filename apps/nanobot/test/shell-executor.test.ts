import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createProcessExecutor } from "../src/executors/process-executor.js";
import { type LocalSettings, mergeSettings } from "../src/settings.js";
import { isPidAlive, makeContext, tempDir } from "./helper.js";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const hostEnv = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  PERSEUS_ROBOT_CREDENTIAL: "prc_must_not_leak",
  SECRET_TOKEN: "nope",
};
const shell = (local: LocalSettings = {}) =>
  createProcessExecutor("shell", { settings: mergeSettings({}, local), hostEnv });
const command = (local: LocalSettings) =>
  createProcessExecutor("command", {
    settings: mergeSettings({}, { ...local, executor: { type: "command", ...local.executor } }),
    hostEnv,
  });

describe("shell executor", () => {
  it("streams stdout and stderr as progress, in order, and returns stdout as the result", async () => {
    const { context, progress } = await makeContext(
      tmp.dir,
      "for i in $(seq 1 200); do echo line-$i; done; echo oops >&2",
    );
    const result = await shell().run(context);
    const expected = Array.from({ length: 200 }, (_, i) => `line-${i + 1}\n`).join("");
    expect(result).toEqual({ status: "succeeded", result: { text: expected } });
    expect(
      progress
        .filter((p) => p.kind === "stdout")
        .map((p) => p.data)
        .join(""),
    ).toBe(expected);
    expect(
      progress
        .filter((p) => p.kind === "stderr")
        .map((p) => p.data)
        .join(""),
    ).toBe("oops\n");
  });

  it("kills the whole process tree on timeout", async () => {
    const { context, progress } = await makeContext(
      tmp.dir,
      "sleep 30 & echo $!; (sleep 31; echo never) & echo $!; wait",
    );
    const started = Date.now();
    // No login shell here: its start-up time under load must not eat the timeout.
    const result = await shell({ executor: { command: ["bash", "-c", "{prompt}"], timeoutMs: 2_500 } }).run(
      context,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.status).toBe("failed");
    expect(result.status === "failed" && result.message).toMatch(/timed out after 2500 ms/);
    const pids = progress
      .filter((p) => p.kind === "stdout")
      .map((p) => p.data)
      .join("")
      .trim()
      .split("\n")
      .map(Number);
    expect(pids).toHaveLength(2);
    for (const pid of pids) await expect.poll(() => isPidAlive(pid), { timeout: 3_000 }).toBe(false);
  });

  it("kills the process tree when the task is cancelled", async () => {
    const controller = new AbortController();
    const { context, progress } = await makeContext(tmp.dir, "sleep 30 & echo $!; wait", {
      signal: controller.signal,
    });
    const run = shell().run(context);
    await expect.poll(() => progress.length, { timeout: 5_000 }).toBeGreaterThan(0);
    controller.abort();
    const result = await run;
    expect(result.status).toBe("failed");
    const pid = Number(progress[0]!.data.trim());
    await expect.poll(() => isPidAlive(pid), { timeout: 3_000 }).toBe(false);
  });

  it("passes a prompt with shell metacharacters as one argument, never as shell code", async () => {
    const prompt = "$(touch pwned1); touch pwned2 `touch pwned3` && echo $HOME | tee pwned4 'quote\" \\";
    const { context, sandbox } = await makeContext(tmp.dir, prompt);
    const result = await shell({ executor: { command: ["printf", "%s", "{prompt}"] } }).run(context);
    expect(result).toEqual({ status: "succeeded", result: { text: prompt } });
    expect(readdirSync(sandbox.root).filter((n) => n.startsWith("pwned"))).toEqual([]);

    // The same through the environment variable inside a script.
    const second = await makeContext(tmp.dir, prompt);
    const viaEnv = await shell({ executor: { command: ["bash", "-c", 'printf %s "$PERSEUS_PROMPT"'] } }).run(
      second.context,
    );
    expect(viaEnv).toEqual({ status: "succeeded", result: { text: prompt } });
    expect(readdirSync(second.sandbox.root).filter((n) => n.startsWith("pwned"))).toEqual([]);
  });

  it("refuses a template that splices the prompt into a longer argument", async () => {
    const { context, sandbox } = await makeContext(tmp.dir, "x; touch pwned");
    const result = await shell({ executor: { command: 'bash -c "echo {prompt}"' } }).run(context);
    expect(result.status).toBe("failed");
    expect(result.status === "failed" && result.message).toMatch(/must be a whole argument/);
    expect(existsSync(join(sandbox.root, "pwned"))).toBe(false);
  });

  it("refuses prompts on the deny list, and needs an approval when an allow list is configured", async () => {
    const denied = await makeContext(tmp.dir, "sudo rm -rf /");
    const result = await shell().run(denied.context);
    expect(result.status === "failed" && result.message).toMatch(/refused by policy/);

    const gated = await makeContext(tmp.dir, "touch made-it && echo done");
    const withAllow = await shell({ policy: { allow: ["echo"] } }).run(gated.context);
    expect(withAllow.status === "failed" && withAllow.message).toMatch(/needs an approval/);
    expect(existsSync(join(gated.sandbox.root, "made-it"))).toBe(false);
  });

  it("runs in the sandbox with a scrubbed environment (no credential, no stray secrets)", async () => {
    const { context, sandbox } = await makeContext(tmp.dir, "pwd; env");
    const result = await shell().run(context);
    expect(result.status).toBe("succeeded");
    const text = result.status === "succeeded" ? result.result.text : "";
    expect(text.split("\n")[0]).toBe(sandbox.root);
    expect(text).toContain("PERSEUS_PROMPT=pwd; env");
    expect(text).not.toContain("prc_must_not_leak");
    expect(text).not.toContain("SECRET_TOKEN");
  });

  it("reports a non-zero exit with the stderr tail, and a missing program clearly", async () => {
    const failing = await makeContext(tmp.dir, "echo partial; echo broken >&2; exit 3");
    const result = await shell().run(failing.context);
    expect(result).toEqual({
      status: "failed",
      message: "bash ended with exit code 3:\nbroken",
      retryable: false,
    });

    const missing = await makeContext(tmp.dir, "hello");
    const absent = await command({ executor: { command: "definitely-not-installed-xyz {prompt}" } }).run(
      missing.context,
    );
    expect(absent.status === "failed" && absent.message).toMatch(
      /could not start definitely-not-installed-xyz: .*ENOENT/,
    );
  });
});

describe("command executor", () => {
  it("wraps an agent CLI: prompt as an argument or on stdin, chat history in a context file", async () => {
    const { context } = await makeContext(tmp.dir, "summarise the thread");
    context.task.history.push({
      id: context.task.id,
      seq: 1,
      authorType: "user",
      authorName: "Ada",
      body: "we ship on friday",
      createdAt: new Date().toISOString(),
    });
    const script = 'printf "arg=%s\\n" "$1"; printf "stdin=%s\\n" "$(cat)"; grep -c "we ship on friday" "$2"';
    const executor = command({
      executor: { command: ["bash", "-c", script, "agent", "{prompt}", "{contextFile}"], stdin: "prompt" },
    });
    const result = await executor.run(context);
    expect(result).toEqual({
      status: "succeeded",
      result: { text: "arg=summarise the thread\nstdin=summarise the thread\n1\n" },
    });
  });

  it("fails clearly without a command template", async () => {
    const { context } = await makeContext(tmp.dir, "hi");
    const result = await command({}).run(context);
    expect(result.status === "failed" && result.message).toMatch(/needs executor.command/);
  });
});
