import { existsSync } from "node:fs";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import {
  isPidAlive,
  type PrivatePostgres,
  type PrivateRedis,
  startPostgresServer,
  startRedisServer,
  stopAllProcesses,
} from "../src/index.js";

const redisServers: PrivateRedis[] = [];
const redisClients: Redis[] = [];
let postgres: PrivatePostgres | undefined;

afterAll(async () => {
  for (const client of redisClients) client.disconnect();
  await Promise.all(redisServers.map((server) => server.stop()));
  await postgres?.destroy();
  await stopAllProcesses();
  for (const dir of [...redisServers.map((s) => s.dir), postgres?.dataDir]) {
    if (dir) expect(existsSync(dir)).toBe(false);
  }
});

function redisClient(url: string, options: { commandTimeout?: number } = {}) {
  // Bounded everywhere: a dead server must fail a command, not hang the test.
  const client = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 100, ...options });
  client.on("error", () => {});
  redisClients.push(client);
  return client;
}

describe("private Redis", () => {
  it("runs on its own port with the requested eviction policy", async () => {
    const redis = await startRedisServer();
    redisServers.push(redis);
    expect(redis.port).not.toBe(6379);
    const client = redisClient(redis.url);
    expect(await client.config("GET", "maxmemory-policy")).toEqual(["maxmemory-policy", "noeviction"]);
    expect(await client.config("GET", "appendonly")).toEqual(["appendonly", "no"]);
  });

  it("with appendonly, survives SIGKILL and restarts on the same port with its data", async () => {
    const redis = await startRedisServer({ appendonly: true });
    redisServers.push(redis);
    const client = redisClient(redis.url);
    await client.set("k", "kept");
    const pid = redis.pid;
    await redis.kill();
    expect(isPidAlive(pid)).toBe(false);
    await expect(redisClient(redis.url).get("k")).rejects.toThrow();

    await redis.restart();
    expect(redis.pid).not.toBe(pid);
    expect(await redisClient(redis.url).get("k")).toBe("kept");
    // The client from before the crash reconnects on its own.
    expect(await client.get("k")).toBe("kept");
  });

  it("without appendonly, a SIGKILL loses everything", async () => {
    const redis = await startRedisServer({ appendonly: false });
    redisServers.push(redis);
    const client = redisClient(redis.url);
    await client.set("k", "lost");
    await redis.kill();
    await redis.restart();
    expect(await client.get("k")).toBeNull();
  });

  it("paused, a command times out; resumed, it answers", async () => {
    const redis = await startRedisServer();
    redisServers.push(redis);
    const client = redisClient(redis.url, { commandTimeout: 300 });
    expect(await client.ping()).toBe("PONG");
    redis.pause();
    const started = Date.now();
    await expect(client.set("k", "v")).rejects.toThrow(/timed out/i);
    expect(Date.now() - started).toBeLessThan(2_000);
    redis.resume();
    // The write sent while it was paused is applied once it runs again (at-least-once!).
    expect(await client.get("k")).toBe("v");
  });
});

describe("private Postgres", () => {
  const connect = async (applicationName: string) => {
    const client = new pg.Client({
      connectionString: postgres!.adminUrl,
      application_name: applicationName,
      connectionTimeoutMillis: 5_000,
      query_timeout: 10_000,
    });
    const errors: Error[] = [];
    client.on("error", (error) => errors.push(error)); // an unhandled one would crash the worker
    await client.connect();
    return { client, errors };
  };

  it("starts, answers queries and ends only the sessions killBackends picks", async () => {
    postgres = await startPostgresServer();
    expect(postgres.port).not.toBe(5432);
    const victim = await connect("victim");
    const survivor = await connect("survivor");
    expect((await victim.client.query("SELECT current_user AS u")).rows).toEqual([{ u: "postgres" }]);

    expect(await postgres.killBackends({ application: "victim" })).toBe(1);
    await expect(victim.client.query("SELECT 1")).rejects.toThrow(/terminat|Connection/i);
    expect((await survivor.client.query("SELECT 2 AS n")).rows).toEqual([{ n: 2 }]);
    expect(await postgres.killBackends({ user: "nobody" })).toBe(0);
    expect(await postgres.killBackends()).toBe(1);
    await expect(survivor.client.query("SELECT 1")).rejects.toThrow();
    await victim.client.end().catch(() => {});
    await survivor.client.end().catch(() => {});
  });

  it("keeps committed data across an immediate stop and a start on the same port", async () => {
    const pgServer = postgres!;
    const { client } = await connect("writer");
    await client.query("CREATE TABLE acked (id int PRIMARY KEY)");
    await client.query("INSERT INTO acked SELECT generate_series(1, 1000)");
    const pid = pgServer.pid;

    await pgServer.stop({ mode: "immediate" });
    expect(pgServer.running).toBe(false);
    expect(isPidAlive(pid)).toBe(false);
    await expect(client.query("SELECT 1")).rejects.toThrow();
    await client.end().catch(() => {});

    await pgServer.start(); // crash recovery replays the WAL
    const after = await connect("reader");
    expect((await after.client.query("SELECT count(*)::int AS n FROM acked")).rows).toEqual([{ n: 1000 }]);
    await after.client.end();

    await pgServer.stop({ mode: "fast" });
    await pgServer.start();
    const again = await connect("reader");
    expect((await again.client.query("SELECT count(*)::int AS n FROM acked")).rows).toEqual([{ n: 1000 }]);
    await again.client.end();
  });

  it("comes back after a SIGKILL of the postmaster in the middle of a query", async () => {
    const pgServer = postgres!;
    const { client } = await connect("busy");
    const busy = client.query("SELECT pg_sleep(30)").then(
      () => "finished",
      (error: Error) => error.message,
    );
    await pgServer.kill();
    expect(await busy).toMatch(/terminated|Connection/i);
    await client.end().catch(() => {});
    await pgServer.start();
    const after = await connect("reader");
    expect((await after.client.query("SELECT count(*)::int AS n FROM acked")).rows).toEqual([{ n: 1000 }]);
    await after.client.end();
  });
});
