import { scrapeMetrics } from "@perseus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type Edge, startEdge, startUpstream, type Upstream } from "./helper.js";

function openSocket(url: string) {
  return new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url);
    // The upstream greets every connection: by then both halves of the proxied pair are open.
    ws.once("message", () => resolve(ws));
    ws.once("error", reject);
  });
}

describe("edge metrics", () => {
  let upstream: Upstream;
  let edge: Edge;
  beforeAll(async () => {
    upstream = await startUpstream("chat-a");
    edge = await startEdge({
      EDGE_UPSTREAM_AUTH: upstream.url,
      EDGE_UPSTREAM_CHAT: upstream.url,
      EDGE_UPSTREAM_DISPATCH: upstream.url,
      EDGE_UPSTREAM_WORKSPACE: upstream.url,
    });
  });
  afterAll(async () => {
    await edge?.close();
    await upstream?.close();
  });

  const open = async (service: string) =>
    (await scrapeMetrics(edge.url)).value("perseus_edge_websocket_connections", { service });

  it("counts proxied WebSockets per service while they are open", async () => {
    expect(await open("chat")).toBe(0);
    const sockets = await Promise.all(
      [1, 2].map(() => openSocket(`${edge.url.replace("http", "ws")}/api/chat/ws`)),
    );
    await expect.poll(() => open("chat"), { timeout: 15_000 }).toBe(2);
    expect(await open("dispatch")).toBe(0);

    sockets[0]?.close();
    await expect.poll(() => open("chat"), { timeout: 15_000 }).toBe(1);
    sockets[1]?.terminate();
    await expect.poll(() => open("chat"), { timeout: 15_000 }).toBe(0);
  });
});
