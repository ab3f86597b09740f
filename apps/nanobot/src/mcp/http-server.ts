import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { TaskApi } from "./platform-api.js";
import { createMcpServer, type McpTaskEnv, taskApiFor } from "./server.js";

/** Generous for `perseus_workspace_write` (5 MB of text, JSON-escaped), small enough to refuse floods. */
const MAX_BODY_BYTES = 12 * 1024 * 1024;
export const MCP_PATH = "/mcp";

export type McpHttpServer = {
  /** `http://127.0.0.1:<port>/mcp` */
  url: string;
  port: number;
  /** The bearer secret every request must carry. */
  token: string;
  close(): Promise<void>;
};

/** A fresh bearer secret for one task or one `perseus-nanobot mcp --http` process. */
export const generateMcpToken = () => `pmcp_${randomBytes(32).toString("base64url")}`;

const digest = (value: string) => createHash("sha256").update(value).digest();

function refuse(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32_000, message }, id: null }));
}

async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The same MCP tools and task scope as the stdio server, over streamable HTTP. It listens
 * on 127.0.0.1 only and answers only requests that carry the bearer secret and name a
 * loopback host (a web page cannot reach it through DNS rebinding). Stateless: each POST
 * gets its own server and transport, so no session state outlives a request.
 */
export async function startMcpHttpServer(
  env: McpTaskEnv,
  options: {
    version: string;
    port?: number;
    token?: string;
    api?: TaskApi;
    postProgress?: (message: string) => void | Promise<void>;
  },
): Promise<McpHttpServer> {
  const token = options.token ?? generateMcpToken();
  const expected = digest(token);
  const api = options.api ?? taskApiFor(env) ?? undefined;
  let allowedHosts = new Set<string>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname !== MCP_PATH) return refuse(res, 404, "not found");
    if (!allowedHosts.has(req.headers.host ?? "")) return refuse(res, 403, "host not allowed");
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedHosts.has(origin.replace(/^http:\/\//, "")))
      return refuse(res, 403, "origin not allowed");
    // The scheme is case-insensitive; the token is compared as a digest (equal length, constant time).
    const presented = /^bearer +(\S+)$/i.exec(req.headers.authorization ?? "")?.[1] ?? "";
    if (!timingSafeEqual(digest(presented), expected))
      return refuse(res, 401, "missing or wrong bearer token", { "www-authenticate": "Bearer" });
    if (req.method !== "POST")
      return refuse(res, 405, "this server is stateless: POST only", { allow: "POST" });
    const raw = await readBody(req);
    if (raw === null) return refuse(res, 413, `request body over ${MAX_BODY_BYTES} bytes`);
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return refuse(res, 400, "request body is not JSON");
    }
    const server = createMcpServer(env, {
      version: options.version,
      api,
      postProgress: options.postProgress,
    });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const http = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) refuse(res, 500, "internal error");
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen({ host: "127.0.0.1", port: options.port ?? 0 }, () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  return {
    url: `http://127.0.0.1:${port}${MCP_PATH}`,
    port,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}
