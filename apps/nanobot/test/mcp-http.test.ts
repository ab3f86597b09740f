import { request } from "node:http";
import { createConnection } from "node:net";
import { networkInterfaces } from "node:os";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type ManagedProcess, startProcess } from "@perseus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProgressSocket } from "../src/mcp/progress-socket.js";
import { APP_DIR, CLI, NODE_ARGS } from "./helper.js";

const TOOLS = [
  "perseus_chat_history",
  "perseus_post_message",
  "perseus_post_progress",
  "perseus_workspace_list",
  "perseus_workspace_read",
  "perseus_workspace_write",
];

const received: { kind: string; data: string }[] = [];
let socket: Awaited<ReturnType<typeof startProgressSocket>>;
let server: ManagedProcess;
let endpoint: { url: string; token: string };

async function startHttpMcp(env: Record<string, string | undefined>) {
  const child = await startProcess({
    name: "nanobot-mcp-http",
    command: process.execPath,
    args: [...NODE_ARGS, CLI, "mcp", "--http"],
    cwd: APP_DIR,
    env: { PERSEUS_URL: undefined, PERSEUS_TASK_TOKEN: undefined, PERSEUS_MCP_TOKEN: undefined, ...env },
    ready: { line: /^\{"url":/ },
    readyTimeoutMs: 90_000,
  });
  const line = child
    .output()
    .split("\n")
    .find((l) => l.startsWith('{"url":'))!;
  return { child, printed: JSON.parse(line) as { url: string; token?: string } };
}

async function connect(url: string, token: string) {
  const client = new Client({ name: "test-agent", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

/** A raw POST, with headers fetch would not let a test set (Host). */
function post(url: string, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "content-type": "application/json", ...headers } });
    req.on("response", (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on("error", reject);
    req.end(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }));
  });
}

beforeAll(async () => {
  socket = await startProgressSocket((kind, data) => received.push({ kind, data }));
  const started = await startHttpMcp({ PERSEUS_PROGRESS_SOCKET: socket.path });
  server = started.child;
  endpoint = { url: started.printed.url, token: started.printed.token! };
}, 120_000);
afterAll(async () => {
  await server?.stop();
  await socket?.close();
});

describe("MCP server over streamable HTTP (perseus-nanobot mcp --http)", () => {
  it("prints a loopback URL and a generated token, and serves the task tools to an MCP client", async () => {
    expect(endpoint.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect(endpoint.token).toMatch(/^pmcp_[\w-]{43}$/);
    const client = await connect(endpoint.url, endpoint.token);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
      const result = await client.callTool({
        name: "perseus_post_progress",
        arguments: { message: "over http" },
      });
      expect(result.isError).toBeFalsy();
      await expect.poll(() => received).toContainEqual({ kind: "status", data: "over http" });
    } finally {
      await client.close();
    }
  });

  it("answers 401 without a bearer token or with a wrong one", async () => {
    const missing = await post(endpoint.url, {});
    expect(missing.status).toBe(401);
    expect(missing.headers["www-authenticate"]).toBe("Bearer");
    expect((await post(endpoint.url, { authorization: `Bearer ${endpoint.token}x` })).status).toBe(401);
    expect((await post(endpoint.url, { authorization: endpoint.token })).status).toBe(401);
    await expect(connect(endpoint.url, "pmcp_wrong")).rejects.toThrow(/bearer token/);
    // The right token passes, whatever the case of the scheme.
    const accept = { accept: "application/json, text/event-stream" };
    expect((await post(endpoint.url, { ...accept, authorization: `bearer ${endpoint.token}` })).status).toBe(
      200,
    );
  });

  it("refuses requests naming another host or coming from a web page, and other paths", async () => {
    const auth = { authorization: `Bearer ${endpoint.token}` };
    expect((await post(endpoint.url, { ...auth, host: "attacker.example:80" })).status).toBe(403);
    expect((await post(endpoint.url, { ...auth, origin: "http://attacker.example" })).status).toBe(403);
    expect((await post(endpoint.url.replace(/\/mcp$/, "/other"), auth)).status).toBe(404);
  });

  it("listens on the loopback interface only", async () => {
    const { port } = new URL(endpoint.url);
    const external = Object.values(networkInterfaces())
      .flat()
      .filter((i) => i && !i.internal && i.family === "IPv4")
      .map((i) => i!.address);
    for (const address of external) {
      const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
        const conn = createConnection({ host: address, port: Number(port) }, () => {
          conn.destroy();
          resolve(null);
        });
        conn.on("error", resolve);
      });
      expect(error?.code, `reachable on ${address}`).toBe("ECONNREFUSED");
    }
  });

  it("refuses task tools outside a task scope", async () => {
    const client = await connect(endpoint.url, endpoint.token);
    try {
      const result = await client.callTool({ name: "perseus_workspace_read", arguments: { path: "a.md" } });
      expect(result.isError).toBe(true);
      expect(JSON.stringify(result.content)).toMatch(/no task scope/);
    } finally {
      await client.close();
    }
  });

  it("uses the launcher's PERSEUS_MCP_TOKEN without printing it", async () => {
    const token = "pmcp_chosen-by-the-launcher-0123456789abcdefghij";
    const { child, printed } = await startHttpMcp({ PERSEUS_MCP_TOKEN: token });
    try {
      expect(printed.token).toBeUndefined();
      expect(child.output()).not.toContain(token);
      const client = await connect(printed.url, token);
      expect((await client.listTools()).tools).toHaveLength(TOOLS.length);
      await client.close();
    } finally {
      await child.stop();
    }
  }, 120_000);
});
