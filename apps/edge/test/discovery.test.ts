import { tmpdir } from "node:os";
import { join } from "node:path";
import { EdgeStatusResponse, Problem } from "@perseus/contracts";
import { ConfigError } from "@perseus/kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { type Edge, eventually, startEdge, startUpstream, type Upstream } from "./helper.js";

async function statusOf(edge: Edge) {
  return EdgeStatusResponse.parse(await (await fetch(`${edge.url}/api/edge/status`)).json());
}

describe("dns:// upstreams (docker compose --scale)", () => {
  let one: Upstream;
  let two: Upstream;
  let edge: Edge;
  // What the fake DNS answers for "chat": the test scales the service up and down by editing it.
  let records = ["127.0.0.1"];

  beforeAll(async () => {
    one = await startUpstream("chat-1", { host: "127.0.0.1" });
    // Same port on another loopback address: two replicas behind one name, as in a container network.
    two = await startUpstream("chat-2", { host: "127.0.0.2", port: one.port });
    const resolver = async (host: string) => {
      if (host !== "chat")
        throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
      return records;
    };
    edge = await startEdge(
      {
        EDGE_UPSTREAM_AUTH: one.url,
        EDGE_UPSTREAM_CHAT: `dns://chat:${one.port}`,
        EDGE_UPSTREAM_DISPATCH: one.url,
        EDGE_UPSTREAM_WORKSPACE: one.url,
        EDGE_WEB_DIST: join(tmpdir(), "perseus-edge-no-such-dist"),
      },
      resolver,
    );
  });

  afterAll(async () => {
    await edge?.close();
    await Promise.all([one?.close(), two?.close()]);
  });

  const instancesOver = async (count: number) => {
    const seen = new Set<string>();
    for (let i = 0; i < count; i++) {
      const response = await fetch(`${edge.url}/api/chat/whoami`);
      expect(response.status).toBe(200);
      seen.add(((await response.json()) as { instance: string }).instance);
    }
    return seen;
  };

  it("routes to every address the name resolves to, following scale up and down", async () => {
    await eventually(
      async () => (await statusOf(edge)).services[1]?.upstreams.filter((u) => u.isReady).length === 1,
    );
    expect(await instancesOver(4)).toEqual(new Set(["chat-1"]));

    records = ["127.0.0.1", "127.0.0.2"];
    await eventually(
      async () => (await statusOf(edge)).services[1]?.upstreams.filter((u) => u.isReady).length === 2,
    );
    expect(await instancesOver(4)).toEqual(new Set(["chat-1", "chat-2"]));
    const chat = (await statusOf(edge)).services.find((s) => s.service === "chat");
    expect(chat?.upstreams.map((u) => u.source)).toEqual([
      `dns://chat:${one.port}`,
      `dns://chat:${one.port}`,
    ]);

    records = ["127.0.0.2"];
    await eventually(async () => (await statusOf(edge)).services[1]?.upstreams.length === 1);
    expect(await instancesOver(4)).toEqual(new Set(["chat-2"]));
  });

  it("answers 503 problem+json for the console when it has not been built", async () => {
    const response = await fetch(`${edge.url}/some/page`);
    expect(response.status).toBe(503);
    expect(Problem.parse(await response.json()).detail).toMatch(/pnpm build/);
  });
});

describe("edge configuration", () => {
  it("parses upstream lists and rejects what is not an origin", () => {
    const config = loadConfig({
      EDGE_UPSTREAM_CHAT: "http://127.0.0.1:7702, http://127.0.0.1:7712",
      EDGE_UPSTREAM_AUTH: "dns+https://auth:443",
    });
    expect(config.EDGE_UPSTREAM_CHAT).toEqual([
      { kind: "static", url: "http://127.0.0.1:7702" },
      { kind: "static", url: "http://127.0.0.1:7712" },
    ]);
    expect(config.EDGE_UPSTREAM_AUTH).toEqual([
      { kind: "dns", protocol: "https:", host: "auth", port: 443, name: "dns+https://auth:443" },
    ]);
    expect(config.EDGE_UPSTREAM_DISPATCH).toEqual([{ kind: "static", url: "http://127.0.0.1:7703" }]);
    expect(config.PORT).toBe(7700);

    for (const bad of ["not a url", "http://chat:7702/api", "ftp://chat:21", "dns://chat", ","]) {
      expect(() => loadConfig({ EDGE_UPSTREAM_CHAT: bad }), bad).toThrow(ConfigError);
    }
    expect(() => loadConfig({ EDGE_UPSTREAM_CHAT: "ftp://x:1" })).toThrow(/EDGE_UPSTREAM_CHAT/);
    expect(() => loadConfig({ EDGE_HEALTH_INTERVAL_MS: "soon" })).toThrow(/EDGE_HEALTH_INTERVAL_MS/);
  });
});
