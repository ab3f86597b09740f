import { EdgeStatusResponse, Problem } from "@perseus/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createWebDist, type Edge, eventually, startEdge, startUpstream, type Upstream } from "./helper.js";

type WhoAmI = {
  instance: string;
  requestId: string | null;
  forwardedFor: string | null;
  forwardedProto: string | null;
  forwardedHost: string | null;
};

/** Opens a WebSocket through the edge and resolves with it and the upstream's greeting. */
function openSocket(url: string, headers: Record<string, string> = {}) {
  return new Promise<{
    ws: WebSocket;
    hello: { instance: string; url: string; authorization: string | null };
  }>((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once("message", (data) => resolve({ ws, hello: JSON.parse(data.toString()) }));
    ws.once("error", reject);
    ws.once("unexpected-response", (_request, response) =>
      reject(new Error(`status ${response.statusCode}`)),
    );
  });
}

function nextMessage(ws: WebSocket) {
  return new Promise<string>((resolve) => ws.once("message", (data) => resolve(data.toString())));
}

describe("edge proxy with two real upstreams", () => {
  let a: Upstream;
  let b: Upstream;
  let edge: Edge;
  let web: Awaited<ReturnType<typeof createWebDist>>;

  beforeAll(async () => {
    [a, b] = await Promise.all([startUpstream("chat-a"), startUpstream("chat-b")]);
    web = await createWebDist();
    const both = `${a.url},${b.url}`;
    edge = await startEdge({
      EDGE_UPSTREAM_AUTH: a.url,
      EDGE_UPSTREAM_CHAT: both,
      EDGE_UPSTREAM_DISPATCH: both,
      EDGE_UPSTREAM_WORKSPACE: b.url,
      EDGE_WEB_DIST: web.dir,
    });
  });

  afterAll(async () => {
    await edge?.close();
    await Promise.all([a?.close(), b?.close()]);
    await web?.remove();
  });

  it("spreads HTTP requests round-robin over the ready upstreams", async () => {
    const instances: string[] = [];
    for (let i = 0; i < 10; i++) {
      const response = await fetch(`${edge.url}/api/chat/whoami?i=${i}`);
      expect(response.status).toBe(200);
      instances.push(((await response.json()) as WhoAmI).instance);
    }
    expect(instances.filter((name) => name === "chat-a")).toHaveLength(5);
    expect(instances.filter((name) => name === "chat-b")).toHaveLength(5);
    for (let i = 1; i < instances.length; i++) expect(instances[i]).not.toBe(instances[i - 1]);
    // The path and query reach the upstream unchanged (the service keeps its /api/chat prefix).
    expect(a.hits.concat(b.hits).some((hit) => hit.url === "/api/chat/whoami?i=3")).toBe(true);
  });

  it("forwards the caller's request id, or mints one, and sets X-Forwarded-*", async () => {
    const given = await fetch(`${edge.url}/api/chat/whoami`, {
      headers: { "x-request-id": "req-abc-123", "x-forwarded-for": "6.6.6.6" },
    });
    const seen = (await given.json()) as WhoAmI;
    expect(seen.requestId).toBe("req-abc-123");
    expect(given.headers.get("x-request-id")).toBe("req-abc-123");
    // The client's own X-Forwarded-For is not trusted: the upstream sees the real peer.
    expect(seen.forwardedFor).toBe("127.0.0.1");
    expect(seen.forwardedProto).toBe("http");
    expect(seen.forwardedHost).toBe(`127.0.0.1:${edge.port}`);

    const minted = await fetch(`${edge.url}/api/chat/whoami`, {
      headers: { "x-request-id": "bad id with spaces" },
    });
    const mintedSeen = (await minted.json()) as WhoAmI;
    expect(mintedSeen.requestId).toMatch(/^[a-f0-9]{16}$/);
    expect(minted.headers.get("x-request-id")).toBe(mintedSeen.requestId);
  });

  it("proxies request bodies and passes upstream statuses through untouched", async () => {
    const created = await fetch(`${edge.url}/api/dispatch/echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ hello: "world", n: 3 }),
    });
    expect(created.status).toBe(201);
    expect(((await created.json()) as { body: unknown }).body).toEqual({ hello: "world", n: 3 });

    const before = a.hits.length + b.hits.length;
    const unavailable = await fetch(`${edge.url}/api/chat/status/503`);
    expect(unavailable.status).toBe(503);
    expect(((await unavailable.json()) as { code: number }).code).toBe(503);
    // Exactly one upstream call: the proxy does not retry an upstream's own 503.
    expect(a.hits.length + b.hits.length - before).toBe(1);
  });

  it("proxies WebSocket upgrades with their headers, one upstream per connection", async () => {
    const url = `${edge.url.replace("http", "ws")}/api/chat/ws?room=7`;
    const first = await openSocket(url, { authorization: "Bearer t0ken", origin: edge.url });
    const second = await openSocket(url, { authorization: "Bearer t0ken", origin: edge.url });
    expect(new Set([first.hello.instance, second.hello.instance])).toEqual(new Set(["chat-a", "chat-b"]));
    expect(first.hello.url).toBe("/api/chat/ws?room=7");
    expect(first.hello.authorization).toBe("Bearer t0ken");
    const handshake = a.sockets.concat(b.sockets).at(-1)?.headers ?? {};
    expect(handshake.origin).toBe(edge.url);
    expect(handshake["x-forwarded-for"]).toBe("127.0.0.1");
    expect(handshake["x-request-id"]).toMatch(/^[A-Za-z0-9._:-]+$/);

    const reply = nextMessage(first.ws);
    first.ws.send("ping-1");
    expect(await reply).toBe("echo:ping-1");

    first.ws.close();
    second.ws.close();
    await eventually(() => a.sockets.concat(b.sockets).every((socket) => socket.closed));
  });

  it("reports every upstream with its health, version, instance id and uptime", async () => {
    const response = await fetch(`${edge.url}/api/edge/status`);
    expect(response.status).toBe(200);
    const status = EdgeStatusResponse.parse(await response.json());
    expect(status.isReady).toBe(true);
    expect(status.services.map((s) => s.service)).toEqual(["auth", "chat", "dispatch", "workspace"]);
    const chat = status.services.find((s) => s.service === "chat");
    expect(chat?.upstreams.map((u) => u.instanceId).sort()).toEqual(["chat-a", "chat-b"]);
    for (const upstream of chat?.upstreams ?? []) {
      expect(upstream).toMatchObject({ state: "ready", isReady: true, version: "9.9.9", source: "static" });
      expect(upstream.uptimeSeconds).toBeGreaterThanOrEqual(0);
    }
    expect((await fetch(`${edge.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${edge.url}/healthz`)).status).toBe(200);
  });

  it("serves the console: files, SPA fallback, long cache for hashed assets, strict CSP", async () => {
    const index = await fetch(`${edge.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toMatch(/text\/html/);
    expect(await index.text()).toContain('<div id="root">');
    expect(index.headers.get("cache-control")).toBe("no-cache");
    const csp = index.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toContain("unsafe-eval");

    const deepLink = await fetch(`${edge.url}/chat/general?tab=files`);
    expect(deepLink.status).toBe(200);
    expect(await deepLink.text()).toContain('<div id="root">');

    const asset = await fetch(`${edge.url}/assets/index-abc123.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toMatch(/javascript/);
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(await asset.text()).toContain("perseus");

    const icon = await fetch(`${edge.url}/favicon.svg`);
    expect(icon.headers.get("cache-control")).toBe("no-cache");

    for (const path of ["/assets/missing-123.js", "/api/nope/thing", "/..%2f..%2f..%2fetc%2fpasswd.txt"]) {
      const missing = await fetch(`${edge.url}${path}`);
      expect(missing.status, path).toBe(404);
      expect(missing.headers.get("content-type")).toMatch(/application\/problem\+json/);
      expect(Problem.parse(await missing.json()).code).toBe("not_found");
    }
  });

  it("moves traffic to the other upstream when one goes down, and answers 503 when all are down", async () => {
    await a.close();
    // No request may fail: a refused connection is retried on the other upstream and marks this one down.
    for (let i = 0; i < 6; i++) {
      const response = await fetch(`${edge.url}/api/chat/whoami`);
      expect(response.status).toBe(200);
      expect(((await response.json()) as WhoAmI).instance).toBe("chat-b");
    }
    const socket = await openSocket(`${edge.url.replace("http", "ws")}/api/chat/ws`);
    expect(socket.hello.instance).toBe("chat-b");
    socket.ws.close();

    const status = EdgeStatusResponse.parse(await (await fetch(`${edge.url}/api/edge/status`)).json());
    const chat = status.services.find((s) => s.service === "chat");
    expect(chat?.upstreams.find((u) => u.url === a.url)).toMatchObject({ state: "down", isReady: false });
    expect(chat?.isReady).toBe(true);
    // auth had only chat-a: once the health poll notices, the edge is no longer ready.
    await eventually(async () => (await fetch(`${edge.url}/readyz`)).status === 503);
    const after = EdgeStatusResponse.parse(await (await fetch(`${edge.url}/api/edge/status`)).json());
    expect(after.isReady).toBe(false);
    expect(after.services.find((s) => s.service === "auth")?.isReady).toBe(false);

    await b.close();
    await eventually(async () => {
      const all = EdgeStatusResponse.parse(await (await fetch(`${edge.url}/api/edge/status`)).json());
      return all.services.every((s) => !s.isReady);
    });
    for (const init of [
      { method: "GET" },
      { method: "POST", body: "{}", headers: { "content-type": "application/json" } },
    ]) {
      const down = await fetch(`${edge.url}/api/chat/whoami`, {
        ...init,
        headers: { ...init.headers, "x-request-id": "down-1" },
      });
      expect(down.status).toBe(503);
      expect(down.headers.get("content-type")).toMatch(/application\/problem\+json/);
      expect(down.headers.get("retry-after")).toBe("1");
      const problem = Problem.parse(await down.json());
      expect(problem).toMatchObject({ code: "unavailable", status: 503, requestId: "down-1" });
    }
    await expect(openSocket(`${edge.url.replace("http", "ws")}/api/chat/ws`)).rejects.toThrow(/status 503/);
  });
});
