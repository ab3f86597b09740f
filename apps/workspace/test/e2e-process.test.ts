import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createKeyspace } from "@perseus/bus";
import {
  createTenant,
  createTestDatabase,
  createTestRedis,
  createTestTokens,
  type ManagedProcess,
  startProcess,
  type TestDatabase,
  type TestRedis,
} from "@perseus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const appDir = join(dirname(fileURLToPath(import.meta.url)), "..");
let database: TestDatabase;
let redis: TestRedis;
let jwks: http.Server;
let service: ManagedProcess | undefined;
let storageDir: string;

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });

beforeAll(async () => {
  database = await createTestDatabase();
  redis = await createTestRedis();
  storageDir = await mkdtemp(join(tmpdir(), "perseus-ws-e2e-"));
});
afterAll(async () => {
  await service?.stop();
  jwks?.close();
  await database?.drop();
  await redis?.cleanup();
  await rm(storageDir, { recursive: true, force: true });
});

describe("the workspace service as a process", () => {
  it("starts, serves an upload and a download, relays file.changed to Redis, and stops on SIGTERM", async () => {
    const tokens = await createTestTokens();
    jwks = http.createServer((_request, response) => {
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify(tokens.jwks));
    });
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
    const port = await freePort();
    // node --import tsx (not the tsx binary) so the pid we signal is the service itself.
    service = await startProcess({
      name: "workspace",
      command: process.execPath,
      args: ["--import", "tsx", "src/server.ts"],
      cwd: appDir,
      env: {
        NODE_ENV: "test",
        LOG_LEVEL: "warn",
        PORT: String(port),
        DATABASE_URL: database.url,
        REDIS_URL: redis.url,
        REDIS_PREFIX: redis.prefix,
        AUTH_ISSUER: tokens.issuer,
        AUTH_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`,
        WORKSPACE_STORAGE_DIR: storageDir,
      },
      ready: { url: `http://127.0.0.1:${port}/readyz` },
      readyTimeoutMs: 30_000,
    });
    const tenant = await createTenant(database.db);
    const token = await tokens.user({ userId: tenant.owner.id, tenantId: tenant.tenantId, role: "owner" });
    const base = `http://127.0.0.1:${port}/api/workspace/layers/chatgroup/${tenant.chatgroupId}/files?path=e2e/hello.txt`;
    const put = await fetch(base, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "if-none-match": "*", "content-type": "text/plain" },
      body: "hello from a process",
    });
    expect(put.status, service.output()).toBe(201);
    const get = await fetch(base, { headers: { authorization: `Bearer ${token}` } });
    expect(await get.text()).toBe("hello from a process");
    expect(get.headers.get("etag")).toBe(put.headers.get("etag"));

    const stream = createKeyspace(redis.prefix).stream("workspace");
    const deadline = Date.now() + 10_000;
    let entries: [string, string[]][] = [];
    while (Date.now() < deadline && entries.length < 1) {
      entries = await redis.client.xrange(stream, "-", "+");
      if (entries.length < 1) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const events = entries.map(([, fields]) => JSON.parse(fields[fields.indexOf("e") + 1] ?? "{}"));
    expect(events.map((e) => `${e.type}:${e.payload.change}:${e.payload.path}`)).toEqual([
      "file.changed:created:e2e/hello.txt",
    ]);
    expect(events[0].payload.etag).toBe(put.headers.get("etag"));

    const exit = await service.stop(15_000);
    expect(exit.code).toBe(0);
    service = undefined;
  }, 90_000);
});
