import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestRedis, type TestRedis } from "@perseus/testing";
import { type Job, UnrecoverableError } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  assertNoEviction,
  createQueue,
  createRedisConnection,
  createWorker,
  defineJobs,
} from "../src/index.js";
import { freePort, recordingLogger, waitFor } from "./helpers.js";

const jobs = defineJobs({
  "test.echo": {
    schema: z.object({ taskId: z.uuid(), attempt: z.number().int().min(0) }),
    options: {
      attempts: 3,
      backoff: { type: "fixed", delay: 50 },
      removeOnComplete: false,
      removeOnFail: false,
    },
  },
});

let r: TestRedis;
const connections: Redis[] = [];
const connect = (role: "worker" | "producer" | "command") => {
  const redis = createRedisConnection(r.url, role, { log: recordingLogger().log });
  connections.push(redis);
  return redis;
};

beforeAll(async () => {
  r = await createTestRedis();
});
afterAll(async () => {
  for (const redis of connections) redis.disconnect();
  await r?.cleanup();
});

describe("typed job queues", () => {
  it("processes a valid job with parsed data; fails invalid data at once with UnrecoverableError", async () => {
    const queue = createQueue(jobs, "test.echo", { connection: connect("producer"), prefix: r.prefix });
    const processed: unknown[] = [];
    const failures: { job: Job | undefined; error: Error }[] = [];
    const worker = createWorker(jobs, "test.echo", async (data) => void processed.push(data), {
      connection: connect("worker"),
      prefix: r.prefix,
      log: recordingLogger().log,
    });
    worker.on("failed", (job, error) => failures.push({ job, error }));
    try {
      const data = { taskId: crypto.randomUUID(), attempt: 1 };
      const good = await queue.add(data);
      // @ts-expect-error: attempt must be a number
      await expect(queue.add({ taskId: crypto.randomUUID(), attempt: "one" })).rejects.toThrow(z.ZodError);
      // A producer that bypasses the typed API (or an older deploy) still cannot get bad data processed.
      const bad = await queue.queue.add("test.echo", { taskId: "nope" }, jobs["test.echo"].options);

      await waitFor("the good job to complete", async () => (await good.getState()) === "completed");
      await waitFor("the bad job to fail", async () => (await queue.queue.getJob(bad.id!))?.finishedOn);
      expect(processed).toEqual([data]);
      const failed = await queue.queue.getJob(bad.id!);
      expect(await failed?.getState()).toBe("failed");
      expect(failed?.attemptsMade).toBe(1); // no retries although attempts = 3
      expect(failed?.failedReason).toMatch(/invalid data for job "test.echo"/);
      expect(failures).toHaveLength(1);
      expect(failures[0]?.error).toBeInstanceOf(UnrecoverableError);
      expect(queue.queue.name).toBe("{test.echo}");
      expect(await r.client.exists(`${r.prefix}:jobs:{test.echo}:id`)).toBe(1);
    } finally {
      await worker.close();
      await queue.close();
    }
  });

  it("retries a job whose processor throws, up to the catalog's attempts", async () => {
    const queue = createQueue(jobs, "test.echo", {
      connection: connect("producer"),
      prefix: `${r.prefix}-retry`,
    });
    let calls = 0;
    const worker = createWorker(
      jobs,
      "test.echo",
      async () => {
        calls++;
        throw new Error("transient");
      },
      { connection: connect("worker"), prefix: `${r.prefix}-retry`, log: recordingLogger().log },
    );
    try {
      const job = await queue.add({ taskId: crypto.randomUUID(), attempt: 0 });
      await waitFor("the job to fail for good", async () => (await job.getState()) === "failed");
      expect(calls).toBe(3);
    } finally {
      await worker.close();
      await queue.close();
    }
  });
});

describe("redis connections", () => {
  it("a producer connection fails fast while Redis is unreachable, instead of hanging", async () => {
    const redis = createRedisConnection(`redis://127.0.0.1:${await freePort()}`, "producer", {
      log: recordingLogger().log,
    });
    try {
      const started = Date.now();
      await expect(redis.set("k", "v")).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      redis.disconnect();
    }
  });

  it("worker connections wait out reconnects (BullMQ requires maxRetriesPerRequest: null)", () => {
    expect(connect("worker").options.maxRetriesPerRequest).toBeNull();
    expect(connect("command").options).toMatchObject({ maxRetriesPerRequest: 1, commandTimeout: 2_000 });
  });
});

describe("assertNoEviction", () => {
  let dir: string;
  let server: ReturnType<typeof spawn> | undefined;
  let port: number;

  beforeAll(async () => {
    // A private server: never change the shared one's configuration.
    dir = await mkdtemp(join(tmpdir(), "perseus-redis-"));
    port = await freePort();
    server = spawn(
      "redis-server",
      ["--port", String(port), "--save", "", "--appendonly", "no", "--dir", dir],
      {
        stdio: "ignore",
      },
    );
    await waitFor("the private redis-server", async () => {
      const probe = new Redis(port, "127.0.0.1", {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      probe.on("error", () => {}); // refused until the server listens
      try {
        await probe.connect();
        return (await probe.ping()) === "PONG";
      } finally {
        probe.disconnect();
      }
    });
  });
  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = once(server, "exit");
      server.kill("SIGKILL");
      await exited;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("accepts the shared test Redis (noeviction)", async () => {
    await expect(assertNoEviction(r.client)).resolves.toBeUndefined();
  });

  it("rejects an evicting Redis, also when CONFIG is not permitted", async () => {
    const admin = new Redis(port, "127.0.0.1");
    const limited = new Redis(port, "127.0.0.1", {
      username: "limited",
      password: "secret",
      lazyConnect: true,
    });
    try {
      await admin.config("SET", "maxmemory-policy", "allkeys-lru");
      await expect(assertNoEviction(admin)).rejects.toThrow(
        /maxmemory-policy is "allkeys-lru".*requires "noeviction"/,
      );
      // A user without CONFIG rights: the check falls back to INFO memory.
      await admin.acl("SETUSER", "limited", "on", ">secret", "~*", "&*", "+@all", "-config");
      await limited.connect();
      await expect(limited.config("GET", "maxmemory-policy")).rejects.toThrow(/NOPERM/);
      await expect(assertNoEviction(limited)).rejects.toThrow(/maxmemory-policy is "allkeys-lru"/);
      await admin.config("SET", "maxmemory-policy", "noeviction");
      await expect(assertNoEviction(limited)).resolves.toBeUndefined();
    } finally {
      admin.disconnect();
      limited.disconnect();
    }
  });
});
