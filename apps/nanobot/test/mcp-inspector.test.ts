import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { type ManagedProcess, startProcess } from "@perseus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_DIR, CLI, NODE_ARGS, tempDir } from "./helper.js";
import { type Stack, startStack } from "./stack.js";
import { whenAvailable } from "./when-available.js";

// The official MCP inspector, from node_modules (a devDependency): never fetched at test time.
const INSPECTOR = join(
  dirname(createRequire(import.meta.url).resolve("@modelcontextprotocol/inspector/package.json")),
  "cli",
  "build",
  "cli.js",
);
const run = promisify(execFile);

type TaskEnv = Record<string, string>;
type ToolResult = { content: { type: string; text: string }[]; isError?: boolean };

/** `mcp-inspector --cli <target> <args>`: its JSON answer, or the inspector's failure. */
async function inspect(target: string[], args: string[], env: TaskEnv = {}) {
  const { stdout } = await run(process.execPath, [INSPECTOR, "--cli", ...target, ...args], {
    cwd: APP_DIR,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    timeout: 120_000,
  });
  return JSON.parse(stdout.slice(stdout.indexOf("{"))) as Record<string, unknown>;
}
const stdio = [process.execPath, ...NODE_ARGS, CLI, "mcp"];
const http = (url: string, token: string) => [
  url,
  "--transport",
  "http",
  "--header",
  `Authorization: Bearer ${token}`,
];
const call = (tool: string, args: Record<string, string>) => [
  "--method",
  "tools/call",
  "--tool-name",
  tool,
  ...Object.entries(args).flatMap(([k, v]) => ["--tool-arg", `${k}=${v}`]),
];
const api = (...args: Parameters<Stack["api"]>) => whenAvailable(() => stack.api(...args));
const textOf = (result: Record<string, unknown>) =>
  (result as ToolResult).content.map((c) => c.text).join("");

let stack: Stack;
let bot: ManagedProcess;
let taskId: string;
let taskEnv: TaskEnv;
const tmp = tempDir();
const envFile = join(tmp.dir, "task-env.json");
const releaseFile = join(tmp.dir, "release");

beforeAll(async () => {
  stack = await startStack({ chatAndWorkspace: true });
  const robot = await stack.createRobot("command");
  const config = join(tmp.dir, "config.json");
  const fixture = join(APP_DIR, "test", "fixtures", "hold-task.ts");
  writeFileSync(
    config,
    JSON.stringify({
      executor: {
        command: [process.execPath, "--import", import.meta.resolve("tsx"), fixture, envFile, releaseFile],
        timeoutMs: 300_000,
      },
    }),
    { mode: 0o600 },
  );
  bot = await startProcess({
    name: "nanobot",
    command: process.execPath,
    args: [...NODE_ARGS, CLI, "connect", "--config", config, "--data-dir", join(tmp.dir, "data")],
    cwd: APP_DIR,
    env: {
      PERSEUS_URL: stack.url,
      PERSEUS_ROBOT_CREDENTIAL: robot.credential,
      PERSEUS_ROBOT_TOKEN: undefined,
    },
    ready: { line: /INFO\s+connected/ },
    readyTimeoutMs: 90_000,
  });
  const task = await whenAvailable(() =>
    stack.api("POST", "/api/dispatch/tasks", {
      robotHandle: robot.handle,
      prompt: "hold the task",
      chatgroupId: stack.chatgroupId,
    }),
  );
  taskId = task.id as string;
  for (let i = 0; i < 300 && !existsSync(envFile); i++) await new Promise((r) => setTimeout(r, 100));
  taskEnv = JSON.parse(readFileSync(envFile, "utf8")) as TaskEnv;
}, 240_000);
afterAll(async () => {
  writeFileSync(releaseFile, "");
  await bot?.stop();
  await stack?.close();
  tmp.cleanup();
}, 60_000);

describe("the official MCP inspector CLI against the nanobot, inside a live task", () => {
  it("lists and calls the tools over stdio (perseus-nanobot mcp)", async () => {
    const listed = (await inspect(stdio, ["--method", "tools/list"], taskEnv)) as {
      tools: { name: string }[];
    };
    expect(listed.tools.map((t) => t.name)).toContain("perseus_workspace_write");
    expect(listed.tools).toHaveLength(6);

    const wrote = await inspect(
      stdio,
      call("perseus_workspace_write", { path: "notes/inspector.md", content: "written over stdio" }),
      taskEnv,
    );
    expect((wrote as ToolResult).isError ?? false, textOf(wrote)).toBe(false);
    expect(textOf(wrote)).toMatch(/^wrote notes\/inspector\.md \(version \d+\)$/);
  }, 240_000);

  it("lists and calls the tools over HTTP (the task's own server, URL and token from the task env)", async () => {
    expect(taskEnv.PERSEUS_MCP_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    const target = http(taskEnv.PERSEUS_MCP_URL!, taskEnv.PERSEUS_MCP_TOKEN!);
    const listed = (await inspect(target, ["--method", "tools/list"])) as { tools: { name: string }[] };
    expect(listed.tools).toHaveLength(6);

    const read = await inspect(target, call("perseus_workspace_read", { path: "notes/inspector.md" }));
    expect(textOf(read)).toBe("written over stdio");
    const posted = await inspect(target, call("perseus_post_message", { body: "hello from the inspector" }));
    expect(textOf(posted)).toMatch(/^posted message #\d+$/);
    const progress = await inspect(target, call("perseus_post_progress", { message: "inspected" }));
    expect((progress as ToolResult).isError ?? false).toBe(false);

    const messages = await api("GET", `/api/chat/chatgroups/${stack.chatgroupId}/messages?limit=20`);
    expect(messages.items).toContainEqual(
      expect.objectContaining({ body: "hello from the inspector", authorType: "robot" }),
    );
    await expect
      .poll(async () => (await stack.api("GET", `/api/dispatch/tasks/${taskId}`)).progress, {
        timeout: 10_000,
      })
      .toContainEqual(expect.objectContaining({ kind: "status", data: "inspected" }));

    await expect(
      inspect(http(taskEnv.PERSEUS_MCP_URL!, "pmcp_not-the-token"), ["--method", "tools/list"]),
    ).rejects.toThrow(/bearer token/);
  }, 240_000);

  it("refuses calls outside the task's scope: another chatgroup, then the ended task", async () => {
    const current = await api("GET", `/api/auth/chatgroups/${stack.chatgroupId}`);
    const other = await api("POST", "/api/auth/chatgroups", {
      teamId: current.teamId,
      name: "Elsewhere",
    });
    await api("POST", `/api/chat/chatgroups/${other.id}/messages`, { body: "not for the robot" });
    const elsewhere = await inspect(stdio, call("perseus_chat_history", {}), {
      ...taskEnv,
      PERSEUS_CHATGROUP_ID: other.id as string,
    });
    expect((elsewhere as ToolResult).isError).toBe(true);
    // Refused without saying whether that chatgroup exists.
    expect(textOf(elsewhere)).toMatch(/HTTP (403|404)/);
    expect(textOf(elsewhere)).not.toContain("not for the robot");

    writeFileSync(releaseFile, "");
    await expect
      .poll(async () => (await stack.api("GET", `/api/dispatch/tasks/${taskId}`)).status, { timeout: 20_000 })
      .toBe("succeeded");
    // The task token died with the lease; the task's HTTP server closed with the task.
    const after = await inspect(stdio, call("perseus_chat_history", {}), taskEnv);
    expect((after as ToolResult).isError).toBe(true);
    expect(textOf(after)).toMatch(/HTTP 401/);
    await expect(
      inspect(http(taskEnv.PERSEUS_MCP_URL!, taskEnv.PERSEUS_MCP_TOKEN!), ["--method", "tools/list"]),
    ).rejects.toThrow();
  }, 240_000);
});
