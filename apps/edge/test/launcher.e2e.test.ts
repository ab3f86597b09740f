import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EdgeStatusResponse, SessionResponse } from "@perseus/contracts";
import {
  createTestDatabase,
  createTestRedis,
  isPidAlive,
  type ManagedProcess,
  startProcess,
  stopAllProcesses,
  type TestDatabase,
  type TestRedis,
} from "@perseus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "./helper.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const BUILT = ["packages/db/dist/cli.js", "apps/edge/dist/server.js", "apps/web/dist/index.html"].concat(
  ["auth", "chat", "dispatch", "workspace"].map((service) => `apps/${service}/dist/server.js`),
);

function isPortFree(port: number) {
  return new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A base port whose edge, service and second-chat-replica ports are all free right now. */
async function findBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below Linux's ephemeral range (32768+), where outgoing connections take their ports.
    const base = 20_000 + Math.floor(Math.random() * 600) * 10;
    const ports = [0, 1, 2, 3, 4, 12].map((offset) => base + offset);
    if ((await Promise.all(ports.map(isPortFree))).every(Boolean)) return base;
  }
  throw new Error("no free port range found");
}

type LauncherState = {
  pid: number;
  edgeUrl: string;
  children: { name: string; pid: number; port: number }[];
};

describe("pnpm start (the launcher) end to end", () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let dataDir: string;
  let launcher: ManagedProcess;
  let edgeUrl: string;

  beforeAll(async () => {
    const missing = BUILT.filter((file) => !existsSync(join(ROOT, file)));
    if (missing.length) throw new Error(`build first (pnpm build); missing: ${missing.join(", ")}`);
    [database, redis] = await Promise.all([createTestDatabase({ poolSize: 1 }), createTestRedis()]);
    dataDir = await mkdtemp(join(tmpdir(), "perseus-launcher-e2e-"));
    const basePort = await findBasePort();
    edgeUrl = `http://127.0.0.1:${basePort}`;
    launcher = await startProcess({
      name: "launcher",
      command: process.execPath,
      args: [
        "scripts/launcher/launch.mjs",
        "--base-port",
        String(basePort),
        "--database-url",
        database.adminUrl,
        "--redis-url",
        redis.url,
        "--redis-prefix",
        redis.prefix,
        "--data-dir",
        dataDir,
        "--replicas",
        "chat=2",
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1", FORCE_COLOR: undefined, LOG_LEVEL: "warn", AUTH_ARGON2_MEMORY_KIB: "4096" },
      ready: { line: /Perseus is ready/ },
      readyTimeoutMs: 120_000,
    });
  }, 150_000);

  afterAll(async () => {
    await stopAllProcesses();
    await database?.drop();
    await redis?.cleanup();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("starts every service behind the edge, all ready, chat with two replicas", async () => {
    const status = EdgeStatusResponse.parse(await (await fetch(`${edgeUrl}/api/edge/status`)).json());
    expect(status.isReady).toBe(true);
    expect(status.services.map((s) => [s.service, s.isReady])).toEqual([
      ["auth", true],
      ["chat", true],
      ["dispatch", true],
      ["workspace", true],
    ]);
    const chat = status.services.find((s) => s.service === "chat");
    expect(chat?.upstreams.map((u) => u.instanceId).sort()).toEqual(["chat-1", "chat-2"]);
    for (const service of status.services) {
      for (const upstream of service.upstreams) {
        expect(upstream.state, upstream.url).toBe("ready");
        expect(upstream.checks).toMatchObject({ postgres: "ok", redis: "ok" });
      }
    }
    expect((await fetch(`${edgeUrl}/readyz`)).status).toBe(200);

    const console = await fetch(`${edgeUrl}/status`);
    expect(console.status).toBe(200);
    expect(await console.text()).toContain('<div id="root">');
    expect(console.headers.get("content-security-policy")).toContain("script-src 'self'");
  });

  it("seeded the demo tenant: its owner can sign in through the edge", async () => {
    expect(launcher.output()).toMatch(
      /PERSEUS_ROBOT_CREDENTIAL=prc_\S+ node apps\/nanobot\/bin\/perseus-nanobot\.js connect/,
    );
    const response = await fetch(`${edgeUrl}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "demo@perseus.local", password: "perseus-demo-password" }),
    });
    expect(response.status).toBe(200);
    expect(SessionResponse.parse(await response.json()).tenant.name).toBe("Demo");
  });

  it("reports a child that dies and restarts it; the edge routes around it meanwhile", async () => {
    const before = JSON.parse(await readFile(join(dataDir, "launcher.json"), "utf8")) as LauncherState;
    const victim = before.children.find((child) => child.name === "chat-2");
    if (!victim) throw new Error("no chat-2 in launcher.json");
    process.kill(victim.pid, "SIGKILL");
    await launcher.waitForLine(/chat-2 exited unexpectedly \(SIGKILL\); restarting in 1 s/, 10_000);
    const after = await eventually(async () => {
      const state = JSON.parse(await readFile(join(dataDir, "launcher.json"), "utf8")) as LauncherState;
      const restarted = state.children.find((child) => child.name === "chat-2");
      return restarted && restarted.pid !== victim.pid && isPidAlive(restarted.pid) ? restarted : undefined;
    }, 15_000);
    expect(after.port).toBe(victim.port);
    // Until it is ready again the edge sends chat traffic to chat-1; then both serve.
    await eventually(async () => {
      const status = EdgeStatusResponse.parse(await (await fetch(`${edgeUrl}/api/edge/status`)).json());
      const chat = status.services.find((s) => s.service === "chat");
      return chat?.upstreams.every((u) => u.isReady) && chat.upstreams.length === 2;
    }, 30_000);
  });

  it("stops every child on SIGINT and exits 0", async () => {
    const state = JSON.parse(await readFile(join(dataDir, "launcher.json"), "utf8")) as LauncherState;
    expect(state.children.map((c) => c.name).sort()).toEqual([
      "auth-1",
      "chat-1",
      "chat-2",
      "dispatch-1",
      "edge",
      "workspace-1",
    ]);
    for (const child of state.children) expect(isPidAlive(child.pid), child.name).toBe(true);

    const exit = await launcher.kill("SIGINT");
    expect(exit).toEqual({ code: 0, signal: null });
    await eventually(() => state.children.every((child) => !isPidAlive(child.pid)), 5_000);
    expect(launcher.output()).toMatch(/stopped/);
    expect(existsSync(join(dataDir, "launcher.json"))).toBe(false);
  });
});
