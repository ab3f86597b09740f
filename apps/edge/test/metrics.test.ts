import { scrapeMetrics } from "@perseus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { isPrivateAddress } from "../src/scrape-guard.js";
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

  it("answers /metrics only to direct requests from private networks, never through a proxy", async () => {
    const direct = await fetch(`${edge.url}/metrics`);
    expect(direct.status).toBe(200);
    expect(await direct.text()).toContain("perseus_edge_websocket_connections");
    for (const header of ["x-forwarded-for", "forwarded", "x-real-ip"]) {
      const proxied = await fetch(`${edge.url}/metrics`, { headers: { [header]: "203.0.113.9" } });
      expect(proxied.status, header).toBe(404);
      expect(proxied.headers.get("content-type")).toContain("application/problem+json");
      expect(await proxied.text()).not.toContain("perseus_");
    }
  });

  it("knows private addresses from public ones", () => {
    for (const address of [
      "127.0.0.1",
      "10.2.3.4",
      "172.20.0.5",
      "192.168.1.9",
      "100.96.0.7",
      "::1",
      "fd00::5",
      "::ffff:10.0.0.8",
    ])
      expect(isPrivateAddress(address), address).toBe(true);
    for (const address of [
      "8.8.8.8",
      "172.32.0.1",
      "203.0.113.9",
      "2001:db8::1",
      "::ffff:1.1.1.1",
      "",
      "not an address",
    ])
      expect(isPrivateAddress(address), address).toBe(false);
  });
});
