import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProgressSocket } from "../src/mcp/progress-socket.js";
import { APP_DIR, CLI, NODE_ARGS } from "./helper.js";

const received: { kind: string; data: string }[] = [];
let socket: Awaited<ReturnType<typeof startProgressSocket>>;
let client: Client;

beforeAll(async () => {
  socket = await startProgressSocket((kind, data) => received.push({ kind, data }));
  client = new Client({ name: "test-agent", version: "1.0.0" });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [...NODE_ARGS, CLI, "mcp"],
      cwd: APP_DIR,
      env: { PATH: process.env.PATH ?? "", PERSEUS_PROGRESS_SOCKET: socket.path },
      stderr: "pipe",
    }),
  );
});
afterAll(async () => {
  await client?.close();
  await socket?.close();
});

describe("MCP server (perseus-nanobot mcp)", () => {
  it("lists the task tools", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      "perseus_chat_history",
      "perseus_post_message",
      "perseus_post_progress",
      "perseus_workspace_list",
      "perseus_workspace_read",
      "perseus_workspace_write",
    ]);
  });

  it("posts progress through the task's local socket", async () => {
    const result = await client.callTool({
      name: "perseus_post_progress",
      arguments: { message: "halfway there" },
    });
    expect(result.isError).toBeFalsy();
    await expect.poll(() => received).toEqual([{ kind: "status", data: "halfway there" }]);
  });

  it("answers clearly when run outside a task scope", async () => {
    const result = await client.callTool({ name: "perseus_chat_history", arguments: {} });
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toMatch(/no task scope/);
  });
});
