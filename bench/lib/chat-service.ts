// The real chat service as a benchmark subject: a migrated bench database, a token signer
// whose JWKS the service fetches over HTTP (as it does from the auth service), bulk
// fixtures (one tenant, one team, users, team-visible chatgroups) and the service process.
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createDb, createPool, schema, withTenant } from "@perseus/db";
import { migrate } from "@perseus/db/migrate";
import { generateSigningKey, signToken } from "@perseus/kit";
import { Redis } from "ioredis";
import { type Subject, startPinned } from "./processes.js";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, "..", "..");
export const ORIGIN = "http://console.bench.test";

/** The subjects of the chat benchmarks: the bare relay and the real service. */
export const chatSubjects = ["bare", "chat"] as const;
export type ChatSubject = (typeof chatSubjects)[number];
/** The subjects to run: both, unless a development setting such as "chat" narrows them. */
export const selectChatSubjects = (wanted = "bare,chat"): ChatSubject[] =>
  chatSubjects.filter((subject) => wanted.split(",").includes(subject));
const ISSUER = "perseus-bench";

/** Creates (or reuses) `perseus_bench_<name>` and returns the application role's URL for it. */
export async function prepareBenchDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new URL(adminUrl);
  admin.pathname = `/perseus_bench_${name}`;
  await migrate({ adminUrl: admin.toString() });
  const app = new URL(admin);
  app.username = "perseus_app";
  app.password = "";
  return app.toString();
}

export type Signer = { jwksUrl: string; userToken: (userId: string, tenantId: string) => Promise<string> };

/** An ES256 signing key with its JWKS served on loopback, so the service verifies tokens for real. */
export async function startSigner(): Promise<Signer & { close: () => Promise<void> }> {
  const key = await generateSigningKey();
  const body = JSON.stringify({ keys: [key.publicJwk] });
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
    userToken: async (userId, tenantId) =>
      (
        await signToken(key, {
          kind: "user",
          issuer: ISSUER,
          subject: userId,
          ttlSeconds: 3_600,
          claims: { tid: tenantId, role: "user", sid: randomUUID() },
        })
      ).token,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export type Fixture = { tenantId: string; userIds: string[]; chatgroupIds: string[] };

/** One tenant and team; every user is a team member, so every user may read every chatgroup. */
export async function createFixture(
  databaseUrl: string,
  users: number,
  chatgroups: number,
): Promise<Fixture> {
  const pool = createPool({ url: databaseUrl, max: 2 });
  const db = createDb(pool);
  const tenantId = randomUUID();
  const teamId = randomUUID();
  const tag = randomBytes(4).toString("hex");
  const userRows = Array.from({ length: users }, (_, i) => ({
    id: randomUUID(),
    email: `bench-${tag}-${i}@example.test`,
    name: `Bench ${i}`,
    handle: `b${tag}u${i}`,
  }));
  const chatgroupIds = Array.from({ length: chatgroups }, () => randomUUID());
  try {
    // Multi-row inserts in chunks: the bind-parameter limit, not speed, bounds the chunk.
    for (let i = 0; i < userRows.length; i += 1_000)
      await db.insert(schema.users).values(userRows.slice(i, i + 1_000));
    await withTenant(db, { tenantId }, async (tx) => {
      await tx.insert(schema.tenants).values({ tenantId, name: `bench ${tag}` });
      await tx.insert(schema.teams).values({ tenantId, id: teamId, name: "bench" });
      for (let i = 0; i < userRows.length; i += 1_000) {
        const chunk = userRows.slice(i, i + 1_000);
        await tx
          .insert(schema.memberships)
          .values(chunk.map((u) => ({ tenantId, userId: u.id, role: "user" })));
        await tx.insert(schema.teamMembers).values(chunk.map((u) => ({ tenantId, teamId, userId: u.id })));
      }
      await tx
        .insert(schema.chatgroups)
        .values(chatgroupIds.map((id, i) => ({ tenantId, id, teamId, name: `room-${i}` })));
    });
  } finally {
    await pool.end();
  }
  return { tenantId, userIds: userRows.map((u) => u.id), chatgroupIds };
}

/** Deletes the Redis keys (streams, presence, tickets) a subject left under its prefix. */
export async function dropRedisPrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1_000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

export type ServiceSubject = Subject & { httpUrl: string; wsUrl: string; pid: number };

/**
 * Starts apps/chat/src/server.ts (workspace sources, as tests read them) pinned to `core`,
 * with its own Redis prefix, and waits until /readyz answers. Prints nothing but warnings.
 */
export async function startChatService(options: {
  core: string;
  port: number;
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  jwksUrl: string;
  env?: Record<string, string>;
}): Promise<ServiceSubject> {
  const subject = await startPatiently(
    options.core,
    [
      // BENCH_CHAT_NODE_ARGS adds flags to the service only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
      ...(process.env.BENCH_CHAT_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
      "--conditions=@perseus/source",
      "--import",
      "tsx",
      join(here, "ready-wrapper.ts"),
    ],
    {
      NODE_ENV: "production",
      LOG_LEVEL: "warn",
      PORT: String(options.port),
      HOST: "127.0.0.1",
      DATABASE_URL: options.databaseUrl,
      REDIS_URL: options.redisUrl,
      REDIS_PREFIX: options.redisPrefix,
      AUTH_JWKS_URL: options.jwksUrl,
      AUTH_ISSUER: ISSUER,
      PUBLIC_ORIGIN: ORIGIN,
      BENCH_SERVER_ENTRY: join(repoRoot, "apps/chat/src/server.ts"),
      ...options.env,
    },
  );
  const pid = subject.process.pid!;
  // The service's own log (warnings and errors) stays inspectable after the run.
  const logFile = join(tmpdir(), `perseus-bench-chat-${pid}.log`);
  subject.process.stdout!.on("data", (chunk: Buffer) => appendFileSync(logFile, chunk));
  return {
    ...subject,
    pid,
    httpUrl: `http://127.0.0.1:${options.port}`,
    wsUrl: `ws://127.0.0.1:${options.port}/api/chat/realtime`,
  };
}

/**
 * Like startPinned, with a start-up allowance for a loaded machine (compiling the service's
 * sources can take over 30 s there) and a child that is killed when it never gets ready.
 */
async function startPatiently(core: string, args: string[], env: NodeJS.ProcessEnv): Promise<Subject> {
  const child = spawn("taskset", ["-c", core, process.execPath, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const ready = await new Promise<Record<string, string>>((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("the chat service did not get ready within 180 s"));
    }, 180_000);
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      const match = /READY (\{.*\})/.exec(buffer);
      if (!match) return;
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      resolve(JSON.parse(match[1]!) as Record<string, string>);
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the chat service exited with ${code} before it was ready`));
    });
  });
  return {
    process: child,
    ready,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await once(child, "exit");
      clearTimeout(timer);
    },
  };
}

/** Starts the bare `ws` relay (same room protocol, no auth, no persistence) pinned to `core`. */
export async function startBareRelay(core: string): Promise<ServiceSubject> {
  const subject = await startPinned(core, ["--import", "tsx", join(here, "bare-relay.ts")]);
  const port = subject.ready.port!;
  return {
    ...subject,
    pid: subject.process.pid!,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/api/chat/realtime`,
  };
}

/** A free loopback port (closed again before it is returned). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resident set size of a process in bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) * 1_024 : Number.NaN;
}

/** Load-process settings go through a file: thousands of tokens exceed the argv size limit. */
export function writeLoadConfig(name: string, config: unknown): string {
  const file = join(tmpdir(), `perseus-${name}-${process.pid}-${randomBytes(3).toString("hex")}.json`);
  writeFileSync(file, JSON.stringify(config));
  return file;
}
