import type { Logger } from "../log.js";
import { version } from "../version.js";
import type { McpTaskEnv } from "./server.js";

/**
 * The task's own MCP server over streamable HTTP, for agent CLIs that prefer a URL to a
 * stdio command: on 127.0.0.1 with a fresh bearer token per task, handed to the agent CLI
 * as PERSEUS_MCP_URL / PERSEUS_MCP_TOKEN. Progress goes straight into the task's stream.
 * Null when it cannot start: the task still runs, with the stdio server available.
 */
export async function startTaskMcp(
  taskEnv: McpTaskEnv,
  progress: (message: string) => void,
  log: Logger,
): Promise<{ env: Record<string, string>; close(): Promise<void> } | null> {
  try {
    // Loaded on the first task that needs it: `connect` starts without the MCP SDK.
    const { startMcpHttpServer } = await import("./http-server.js");
    const server = await startMcpHttpServer(taskEnv, { version, postProgress: progress });
    return {
      env: { PERSEUS_MCP_URL: server.url, PERSEUS_MCP_TOKEN: server.token },
      close: () => server.close(),
    };
  } catch (error) {
    log.debug("task MCP server unavailable", { error: (error as Error).message });
    return null;
  }
}
