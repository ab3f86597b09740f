import { randomUUID } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";
import { createTaskApi, type TaskApi } from "./platform-api.js";
import { postToProgressSocket } from "./progress-socket.js";

/** What the nanobot hands to the processes of a task (see task-runner.ts). */
export type McpTaskEnv = {
  PERSEUS_URL?: string;
  PERSEUS_TASK_TOKEN?: string;
  PERSEUS_TASK_ID?: string;
  PERSEUS_CHATGROUP_ID?: string;
  PERSEUS_PROGRESS_SOCKET?: string;
};

const text = (value: string) => ({ content: [{ type: "text" as const, text: value }] });
const failure = (value: string) => ({ content: [{ type: "text" as const, text: value }], isError: true });

/**
 * The nanobot's MCP server, for agent CLIs that speak MCP (run inside a task by the
 * `command` executor: `perseus-nanobot mcp`). It reads the task's scope from the
 * environment the nanobot set; nothing outside that scope is reachable.
 */
/** The task API for `env`, or null when it names no task scope. */
export function taskApiFor(env: McpTaskEnv): TaskApi | null {
  return env.PERSEUS_URL && env.PERSEUS_TASK_TOKEN && env.PERSEUS_CHATGROUP_ID
    ? createTaskApi({
        platformUrl: env.PERSEUS_URL,
        taskToken: env.PERSEUS_TASK_TOKEN,
        chatgroupId: env.PERSEUS_CHATGROUP_ID,
      })
    : null;
}

export function createMcpServer(
  env: McpTaskEnv,
  options: {
    version: string;
    api?: TaskApi;
    /** In-process progress sink (the nanobot's per-task HTTP server); else the task's socket. */
    postProgress?: (message: string) => void | Promise<void>;
  } = { version: "0.1.0" },
) {
  const server = new McpServer({ name: "perseus-nanobot", version: options.version });
  const scoped = options.api ?? taskApiFor(env);
  const noScope = () =>
    failure(
      "no task scope: run this server from a Perseus task (PERSEUS_URL, PERSEUS_TASK_TOKEN, PERSEUS_CHATGROUP_ID)",
    );
  const guard = async (fn: () => Promise<ReturnType<typeof text>>) => {
    try {
      return await fn();
    } catch (error) {
      return failure(`error: ${(error as Error).message}`);
    }
  };

  server.registerTool(
    "perseus_chat_history",
    {
      description: "Read recent messages of the chatgroup this task came from (oldest first).",
      inputSchema: {
        limit: z.number().int().min(1).max(200).default(30),
        before: z.number().int().min(1).optional(),
      },
    },
    async ({ limit, before }) => {
      if (!scoped) return noScope();
      return guard(async () => {
        const page = await scoped.history({ limit, before });
        const lines = page.items.map((m) => `#${m.seq} [${m.authorType}] ${m.createdAt}: ${m.body}`);
        return text(lines.join("\n") || "(no messages)");
      });
    },
  );

  server.registerTool(
    "perseus_post_message",
    {
      description:
        "Post a message to the task's chatgroup (the final answer is posted for you; use this for questions or notes).",
      inputSchema: { body: z.string().min(1).max(20_000) },
    },
    async ({ body }) => {
      if (!scoped) return noScope();
      return guard(async () => {
        const message = await scoped.postMessage(body, `mcp-${randomUUID()}`);
        return text(`posted message #${message.seq}`);
      });
    },
  );

  server.registerTool(
    "perseus_post_progress",
    {
      description: "Show a short progress update for the task in the chat.",
      inputSchema: { message: z.string().min(1).max(2_000) },
    },
    async ({ message }) => {
      const socket = env.PERSEUS_PROGRESS_SOCKET;
      const post =
        options.postProgress ?? (socket ? () => postToProgressSocket(socket, "status", message) : null);
      if (!post) return failure("no progress channel: run this server from a Perseus task");
      return guard(async () => {
        await post(message);
        return text("posted");
      });
    },
  );

  server.registerTool(
    "perseus_workspace_list",
    {
      description: "List a directory of the chatgroup's workspace view ('' for the root).",
      inputSchema: { path: z.string().max(4_096).default("") },
    },
    async ({ path }) => {
      if (!scoped) return noScope();
      return guard(async () => {
        const tree = await scoped.list(path);
        const lines = tree.entries.map(
          (e) => `${e.kind === "dir" ? "d" : "-"} ${e.path}${e.kind === "file" ? ` (${e.size} B)` : ""}`,
        );
        return text((lines.join("\n") || "(empty)") + (tree.truncated ? "\n… (truncated)" : ""));
      });
    },
  );

  server.registerTool(
    "perseus_workspace_read",
    {
      description: "Read a text file of the chatgroup's workspace view.",
      inputSchema: { path: z.string().min(1).max(4_096) },
    },
    async ({ path }) => {
      if (!scoped) return noScope();
      return guard(async () => text(await scoped.read(path)));
    },
  );

  server.registerTool(
    "perseus_workspace_write",
    {
      description: "Write (create or replace) a text file in the chatgroup's own workspace layer.",
      inputSchema: { path: z.string().min(1).max(4_096), content: z.string().max(5_000_000) },
    },
    async ({ path, content }) => {
      if (!scoped) return noScope();
      return guard(async () => {
        const entry = await scoped.write(path, content);
        return text(`wrote ${entry.path} (version ${entry.version})`);
      });
    },
  );

  return server;
}

export async function runMcpServer(env: McpTaskEnv, version: string) {
  const server = createMcpServer(env, { version });
  await server.connect(new StdioServerTransport());
  return server;
}
