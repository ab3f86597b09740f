import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startProcess } from "@perseus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_DIR, CLI, NODE_ARGS, tempDir } from "./helper.js";
import { type Stack, startStack } from "./stack.js";

let stack: Stack;
const tmp = tempDir();
beforeAll(async () => {
  stack = await startStack({ chatAndWorkspace: true });
}, 240_000);
afterAll(async () => {
  await stack?.close();
  tmp.cleanup();
}, 60_000);

function run(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [...NODE_ARGS, CLI, ...args], {
      cwd: APP_DIR,
      env: { PATH: process.env.PATH, HOME: tmp.dir, XDG_CONFIG_HOME: join(tmp.dir, "config"), ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("with a real credential, through auth, dispatch and the edge", () => {
  it("doctor passes every check", async () => {
    const robot = await stack.createRobot();
    const { code, stdout } = await run(["doctor", "--data-dir", join(tmp.dir, "doctor")], {
      PERSEUS_URL: stack.url,
      PERSEUS_ROBOT_CREDENTIAL: robot.credential,
    });
    expect(stdout).toMatch(new RegExp(`credential\\s+ok\\s+robot @${robot.handle}`));
    expect(stdout).toMatch(/websocket connect\s+ok\s+upgrade accepted/);
    expect(stdout).toMatch(/executor\s+ok\s+shell \(bash\)/); // from the central config
    expect(code, stdout).toBe(0);
    expect(stdout).not.toContain(robot.credential);
  }, 60_000);

  it("exchanges the credential, runs tasks under the central config as it changes, and exits 2 once the credential is revoked", async () => {
    const robot = await stack.createRobot();
    const bot = await startProcess({
      name: "nanobot",
      command: process.execPath,
      args: [...NODE_ARGS, CLI, "connect", "--data-dir", join(tmp.dir, "connect"), "--log-level", "debug"],
      cwd: APP_DIR,
      env: {
        PERSEUS_URL: stack.url,
        PERSEUS_ROBOT_CREDENTIAL: robot.credential,
        PERSEUS_ROBOT_TOKEN: undefined,
        XDG_CONFIG_HOME: tmp.dir,
      },
      ready: { line: /INFO\s+connected/ },
      readyTimeoutMs: 30_000,
    });
    const runTask = async (prompt: string) => {
      const task = await stack.api("POST", "/api/dispatch/tasks", {
        robotHandle: robot.handle,
        prompt,
        chatgroupId: stack.chatgroupId,
      });
      for (let i = 0; i < 100; i++) {
        const current = await stack.api("GET", `/api/dispatch/tasks/${task.id}`);
        if (["succeeded", "failed", "dead"].includes(current.status as string)) return current;
        await new Promise((r) => setTimeout(r, 150));
      }
      throw new Error(`task ${task.id} did not finish\n${bot.output()}`);
    };
    try {
      const done = await runTask("echo via-credential");
      expect(done.status).toBe("succeeded");
      expect(done.result).toBe("via-credential\n");

      // A central config change reaches the connected robot (config frame) and applies to the next task.
      const { version } = await stack.api("PUT", `/api/auth/robots/${robot.robotId}/config`, {
        settings: { executor: "shell", deny: ["\\bsleep\\b"] },
      });
      await expect
        .poll(() => bot.output(), { timeout: 10_000 })
        .toMatch(new RegExp(`config applied version=${version}`));
      const refused = await runTask("sleep 0");
      expect(refused.error).toMatch(/refused by policy: matches deny pattern \\bsleep\\b/);

      await stack.api("DELETE", `/api/auth/robots/${robot.robotId}/credentials/${robot.credentialId}`);
      const exit = await bot.waitForExit();
      expect(exit.code, bot.output()).toBe(2);
      expect(bot.output()).toMatch(/disconnected code=4001/);
      expect(bot.output()).toMatch(/the platform refused the robot credential \(HTTP 401/);
      expect(bot.output()).not.toContain(robot.credential);
    } finally {
      await bot.stop();
    }
  }, 60_000);
});

describe("MCP tools inside a real task (command executor → agent CLI → perseus-nanobot mcp)", () => {
  it("reads and posts chat, writes and reads workspace files with the task token, and posts progress", async () => {
    const robot = await stack.createRobot("command");
    const tsxLoader = import.meta.resolve("tsx");
    const config = join(tmp.dir, "config.json");
    writeFileSync(
      config,
      JSON.stringify({
        executor: {
          command: [
            process.execPath,
            "--import",
            tsxLoader,
            join(APP_DIR, "test", "fixtures", "mcp-agent.ts"),
            CLI,
            tsxLoader,
          ],
          timeoutMs: 60_000,
        },
      }),
      { mode: 0o600 },
    );
    const bot = await startProcess({
      name: "nanobot",
      command: process.execPath,
      args: [
        ...NODE_ARGS,
        CLI,
        "connect",
        "--config",
        config,
        "--data-dir",
        join(tmp.dir, "data"),
        "--log-level",
        "debug",
      ],
      cwd: APP_DIR,
      env: {
        PERSEUS_URL: stack.url,
        PERSEUS_ROBOT_CREDENTIAL: robot.credential,
        PERSEUS_ROBOT_TOKEN: undefined,
      },
      ready: { line: /INFO\s+connected/ },
      readyTimeoutMs: 30_000,
    });
    try {
      const task = await stack.api("POST", "/api/dispatch/tasks", {
        robotHandle: robot.handle,
        prompt: "use the tools",
        chatgroupId: stack.chatgroupId,
      });
      let current: Record<string, unknown> = {};
      for (let i = 0; i < 200; i++) {
        current = await stack.api("GET", `/api/dispatch/tasks/${task.id}`);
        if (current.status === "succeeded" || current.status === "failed" || current.status === "dead") break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(current.status, `${JSON.stringify(current)}\n${bot.output()}`).toBe("succeeded");
      const results = JSON.parse(current.result as string) as Record<
        string,
        { isError: boolean; text: string }[]
      >;
      for (const [name, calls] of Object.entries(results))
        for (const call of calls) expect(call.isError, `${name}: ${call.text}`).toBe(false);
      expect(results.perseus_chat_history?.[0]?.text).toContain("note from the agent");
      expect(results.perseus_workspace_read?.[0]?.text).toBe("# hello again");
      expect(results.perseus_workspace_list?.[0]?.text).toContain("reports/out.md");
      const progress = current.progress as { kind: string; data: string }[];
      expect(progress).toContainEqual(expect.objectContaining({ kind: "status", data: "mcp says hi" }));

      // Seen from a person's side: the message is in the chat, the file in the chatgroup's workspace.
      const messages = await stack.api("GET", `/api/chat/chatgroups/${stack.chatgroupId}/messages?limit=20`);
      expect(
        (messages.items as { body: string; authorType: string }[]).some(
          (m) => m.body === "note from the agent" && m.authorType === "robot",
        ),
      ).toBe(true);
      const file = await fetch(
        `${stack.url}/api/workspace/views/chatgroup/${stack.chatgroupId}/files?path=reports/out.md`,
        {
          headers: { authorization: `Bearer ${stack.userToken()}` },
        },
      );
      expect(await file.text()).toBe("# hello again");
    } finally {
      await bot.stop();
    }
  }, 90_000);
});
