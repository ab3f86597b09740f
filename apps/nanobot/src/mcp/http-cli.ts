import { startMcpHttpServer } from "./http-server.js";
import type { McpTaskEnv } from "./server.js";

/**
 * `perseus-nanobot mcp --http`: serves until SIGINT/SIGTERM. The bearer token is
 * PERSEUS_MCP_TOKEN when the launcher chose one (it hands the same value to the agent
 * CLI), else generated here and printed once on stdout, together with the URL.
 */
export async function runMcpHttpServer(
  env: McpTaskEnv & { PERSEUS_MCP_TOKEN?: string },
  options: { version: string; port: number },
) {
  const given = env.PERSEUS_MCP_TOKEN || undefined;
  const server = await startMcpHttpServer(env, {
    version: options.version,
    port: options.port,
    token: given,
  });
  process.stdout.write(`${JSON.stringify({ url: server.url, ...(given ? {} : { token: server.token }) })}\n`);
  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
