import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServiceApp } from "@perseus/kit";
import type { FastifyInstance } from "fastify";
import { WebSocketServer } from "ws";
import { buildApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import type { Resolver } from "../src/upstreams.js";

export type Upstream = {
  name: string;
  url: string;
  port: number;
  app: FastifyInstance;
  /** Requests seen, in order (health checks excluded). */
  hits: { method: string; url: string; headers: Record<string, unknown> }[];
  /** WebSocket connections accepted, with the handshake they arrived with. */
  sockets: { url: string; headers: Record<string, unknown>; closed: boolean }[];
  close: () => Promise<void>;
};

/**
 * A real upstream service: the kit's base app (so `/readyz` is the real one) with a few
 * routes under `/api/<any service>/` and a WebSocket echo at `/api/<service>/ws`.
 */
export async function startUpstream(
  name: string,
  options: { host?: string; port?: number } = {},
): Promise<Upstream> {
  const app = await createServiceApp({
    name: "chat",
    version: "9.9.9",
    prefix: "/api/chat",
    description: "test upstream",
    instanceId: name,
    logLevel: "silent",
    checks: [],
  });
  const hits: Upstream["hits"] = [];
  const sockets: Upstream["sockets"] = [];
  app.addHook("onRequest", async (request) => {
    if (request.url.startsWith("/api/"))
      hits.push({ method: request.method, url: request.url, headers: request.headers });
  });
  app.get("/api/:service/whoami", async (request) => ({
    instance: name,
    url: request.url,
    requestId: request.headers["x-request-id"] ?? null,
    forwardedFor: request.headers["x-forwarded-for"] ?? null,
    forwardedProto: request.headers["x-forwarded-proto"] ?? null,
    forwardedHost: request.headers["x-forwarded-host"] ?? null,
    ip: request.ip,
  }));
  app.post("/api/:service/echo", async (request, reply) => {
    reply.code(201);
    return { instance: name, body: request.body };
  });
  app.get("/api/:service/status/:code", async (request, reply) => {
    const { code } = request.params as { code: string };
    reply.code(Number(code));
    return { instance: name, code: Number(code) };
  });

  const wss = new WebSocketServer({ noServer: true });
  app.server.on("upgrade", (request, socket, head) => {
    if (!/^\/api\/[a-z]+\/ws(\?|$)/.test(request.url ?? "")) {
      socket.end("HTTP/1.1 404 Not Found\r\n\r\n");
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const entry = { url: request.url ?? "", headers: { ...request.headers }, closed: false };
      sockets.push(entry);
      ws.send(
        JSON.stringify({
          instance: name,
          url: entry.url,
          authorization: request.headers.authorization ?? null,
        }),
      );
      ws.on("message", (data) => ws.send(`echo:${data.toString()}`));
      ws.on("close", () => {
        entry.closed = true;
      });
    });
  });
  app.addHook("onClose", async () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
  });

  await app.listen({ host: options.host ?? "127.0.0.1", port: options.port ?? 0 });
  const { port, address } = app.server.address() as AddressInfo;
  return { name, url: `http://${address}:${port}`, port, app, hits, sockets, close: () => app.close() };
}

export type Edge = { app: FastifyInstance; url: string; port: number; close: () => Promise<void> };

/** The real edge app listening on a free port; `env` overrides its configuration. */
export async function startEdge(env: Record<string, string>, resolver?: Resolver): Promise<Edge> {
  const config = loadConfig({
    LOG_LEVEL: "silent",
    EDGE_HEALTH_INTERVAL_MS: "100",
    // Generous: on a loaded CI machine a healthy upstream's /readyz may take a while, and
    // a slow answer must not count as down (tests that want "down" stop the upstream).
    EDGE_HEALTH_TIMEOUT_MS: "3000",
    EDGE_DNS_REFRESH_MS: "100",
    ...env,
  });
  const app = await buildApp({
    config,
    instanceId: "edge-test",
    version: "1.2.3",
    ...(resolver ? { resolver } : {}),
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}`, port, close: () => app.close() };
}

/** A fake console build: index.html, a hashed script and a plain file. */
export async function createWebDist(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "perseus-edge-web-"));
  await mkdir(join(dir, "assets"));
  await writeFile(
    join(dir, "index.html"),
    '<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head><body><div id="root"></div></body></html>',
  );
  await writeFile(join(dir, "assets", "index-abc123.js"), "console.log('perseus');");
  await writeFile(join(dir, "favicon.svg"), "<svg xmlns='http://www.w3.org/2000/svg'/>");
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Polls `predicate` every 25 ms until it holds, failing after `timeoutMs`. */
export async function eventually<T>(
  predicate: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await predicate();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ""}`);
}
