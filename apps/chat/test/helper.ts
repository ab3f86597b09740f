import { createHash, randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { createOutboxRelay, createRedisConnection, type OutboxRelay } from "@perseus/bus";
import type { RealtimeServerFrame } from "@perseus/contracts";
import { type Db, schema, withTenant } from "@perseus/db";
import {
  addMember,
  createTenant,
  createTestDatabase,
  createTestRedis,
  createTestTokens,
  createUser,
  type TenantFixture,
  type TestDatabase,
  type TestRedis,
  type TestTokens,
} from "@perseus/testing";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { v7 as uuidv7 } from "uuid";
import WebSocket from "ws";
import { buildApp } from "../src/app.js";
import { ChatConfig } from "../src/config.js";

export const ORIGIN = "http://console.perseus.test";
export const PREFIX = "/api/chat";

export type ChatTestEnv = {
  database: TestDatabase;
  redis: TestRedis;
  tokens: TestTokens;
  cleanup: () => Promise<void>;
};

/** A database, a Redis namespace and a token signer of this test file's own. */
export async function createChatTestEnv(options: { poolSize?: number } = {}): Promise<ChatTestEnv> {
  const database = await createTestDatabase({ poolSize: options.poolSize ?? 10 });
  const redis = await createTestRedis();
  const tokens = await createTestTokens();
  return {
    database,
    redis,
    tokens,
    cleanup: async () => {
      await redis.cleanup();
      await database.drop();
    },
  };
}

export function testConfig(env: ChatTestEnv, overrides: Record<string, string> = {}): ChatConfig {
  return ChatConfig.parse({
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    DATABASE_URL: env.database.url,
    REDIS_URL: env.redis.url,
    REDIS_PREFIX: env.redis.prefix,
    AUTH_ISSUER: env.tokens.issuer,
    PUBLIC_ORIGIN: ORIGIN,
    PORT: "0",
    ...overrides,
  });
}

/** The chat app on the test infrastructure; closing it closes its Redis connection too. */
export async function buildTestApp(
  env: ChatTestEnv,
  options: { config?: Record<string, string>; instanceId?: string } = {},
): Promise<FastifyInstance> {
  const redis = new Redis(env.redis.url, { maxRetriesPerRequest: 1, commandTimeout: 2_000 });
  redis.on("error", () => {});
  const app = await buildApp({
    config: testConfig(env, options.config),
    instanceId: options.instanceId ?? `chat-test-${randomBytes(3).toString("hex")}`,
    version: "test",
    db: env.database.db,
    redis,
    keys: env.tokens.keys,
    revocations: env.tokens.revocations,
  });
  app.addHook("onClose", async () => redis.disconnect());
  return app;
}

/** Listens on a free port and waits until the realtime tails are positioned. */
export async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: "127.0.0.1" });
  await app.chatRealtimeReady;
  const { port } = app.server.address() as AddressInfo;
  return `127.0.0.1:${port}`;
}

/** An outbox relay polling fast, as server.ts runs it. */
export function startRelay(env: ChatTestEnv): OutboxRelay & { close: () => Promise<void> } {
  const redis = createRedisConnection(env.redis.url, "command");
  const silent = { info: () => {}, warn: () => {}, error: () => {} };
  const relay = createOutboxRelay({
    pool: env.database.pool,
    redis,
    prefix: env.redis.prefix,
    pollIntervalMs: 50,
    log: silent,
  });
  relay.start();
  return {
    ...relay,
    close: async () => {
      await relay.stop();
      redis.disconnect();
    },
  };
}

/** A listening chat app with its outbox relay and a tenant: where most HTTP + WebSocket test files start. */
export type LiveChat = {
  env: ChatTestEnv;
  app: FastifyInstance;
  address: string;
  relay: ReturnType<typeof startRelay>;
  tenant: TenantFixture;
  /** Opens a realtime socket as `member`; stop() terminates it. */
  connect: (member: Member) => Promise<TestClient>;
  /** Terminates the sockets, then stops the relay and the app, then drops the database and Redis keys. */
  stop: () => Promise<void>;
};

export async function startLiveChat(
  options: { config?: Record<string, string>; poolSize?: number } = {},
): Promise<LiveChat> {
  const env = await createChatTestEnv(options.poolSize === undefined ? {} : { poolSize: options.poolSize });
  const app = await buildTestApp(env, options.config ? { config: options.config } : {});
  const address = await listen(app);
  const relay = startRelay(env);
  const tenant = await createTenant(env.database.db);
  const clients: TestClient[] = [];
  return {
    env,
    app,
    address,
    relay,
    tenant,
    connect: async (member) => {
      const client = await connect(app, address, member.token);
      clients.push(client);
      return client;
    },
    stop: async () => {
      for (const client of clients) client.ws.terminate();
      await relay.close();
      await app.close();
      await env.cleanup();
    },
  };
}

// ---- fixtures ---------------------------------------------------------------------

export type Member = { id: string; handle: string; token: string };

export async function createMember(
  env: ChatTestEnv,
  tenant: TenantFixture,
  options: { role?: "owner" | "admin" | "user"; inTeam?: boolean; handle?: string } = {},
): Promise<Member> {
  const user = await createUser(env.database.db, options.handle ? { handle: options.handle } : {});
  const role = options.role ?? "user";
  await addMember(
    env.database.db,
    tenant.tenantId,
    user.id,
    role,
    options.inTeam === false ? undefined : tenant.teamId,
  );
  const token = await env.tokens.user({ userId: user.id, tenantId: tenant.tenantId, role });
  return { id: user.id, handle: user.handle, token };
}

export async function ownerOf(env: ChatTestEnv, tenant: TenantFixture): Promise<Member> {
  const token = await env.tokens.user({ userId: tenant.owner.id, tenantId: tenant.tenantId, role: "owner" });
  return { id: tenant.owner.id, handle: tenant.owner.handle, token };
}

/** A team-wide chatgroup in the tenant's team, named after its id. */
export async function createChatgroup(db: Db, tenant: TenantFixture): Promise<string> {
  const id = uuidv7();
  await withTenant(db, tenant, (tx) =>
    tx
      .insert(schema.chatgroups)
      .values({ tenantId: tenant.tenantId, id, teamId: tenant.teamId, name: `cg-${id.slice(-6)}` }),
  );
  return id;
}

export async function createPrivateChatgroup(
  db: Db,
  tenant: TenantFixture,
  memberIds: string[],
): Promise<string> {
  const chatgroupId = uuidv7();
  await withTenant(db, tenant, async (tx) => {
    await tx.insert(schema.chatgroups).values({
      tenantId: tenant.tenantId,
      id: chatgroupId,
      teamId: tenant.teamId,
      name: `private-${chatgroupId.slice(-6)}`,
      visibility: "private",
    });
    for (const userId of memberIds) {
      await tx.insert(schema.chatgroupMembers).values({ tenantId: tenant.tenantId, chatgroupId, userId });
    }
  });
  return chatgroupId;
}

export async function createRobot(
  db: Db,
  tenant: TenantFixture,
  handle: string,
  scope: { type: "tenant" | "team" | "chatgroup"; id: string } | null,
): Promise<string> {
  const robotId = uuidv7();
  await withTenant(db, tenant, async (tx) => {
    await tx.insert(schema.robots).values({ tenantId: tenant.tenantId, id: robotId, handle, name: handle });
    if (scope) {
      await tx
        .insert(schema.robotScopes)
        .values({ tenantId: tenant.tenantId, robotId, scopeType: scope.type, scopeId: scope.id });
    }
  });
  return robotId;
}

/** A running task with a live lease and its task token (`ptt_…`), as dispatch would mint it. */
export async function createLeasedTask(
  db: Db,
  tenant: TenantFixture,
  robotId: string,
  chatgroupId: string,
  options: { leaseSeconds?: number } = {},
): Promise<{ taskId: string; token: string }> {
  const taskId = uuidv7();
  const token = `ptt_${tenant.tenantId}_${taskId}_${randomBytes(32).toString("base64url")}`;
  await withTenant(db, tenant, async (tx) => {
    await tx.insert(schema.tasks).values({
      tenantId: tenant.tenantId,
      id: taskId,
      robotId,
      chatgroupId,
      prompt: "do it",
      status: "running",
      leaseEpoch: 1,
      leaseHolder: "test",
      leaseExpiresAt: new Date(Date.now() + (options.leaseSeconds ?? 60) * 1000),
      taskTokenHash: createHash("sha256").update(token).digest("hex"),
    });
  });
  return { taskId, token };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Posts a message through the API and returns the parsed response. */
export async function post(
  app: FastifyInstance,
  token: string,
  chatgroupId: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  const response = await app.inject({
    method: "POST",
    url: `${PREFIX}/chatgroups/${chatgroupId}/messages`,
    headers: { ...bearer(token), ...headers },
    payload: body,
  });
  return {
    status: response.statusCode,
    body: response.json() as Record<string, unknown> & { seq: number; id: string },
  };
}

// ---- realtime client ------------------------------------------------------------------

export type Frame = RealtimeServerFrame;

/** A real WebSocket client that records every frame and the close code. */
export class TestClient {
  readonly frames: Frame[] = [];
  closeCode: number | null = null;
  closeReason = "";
  readonly closed: Promise<number>;
  private waiters = new Set<() => void>();

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      for (const wake of this.waiters) wake();
    });
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        for (const wake of this.waiters) wake();
        resolve(code);
      });
    });
    ws.on("error", () => {});
  }

  send(frame: unknown) {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Waits until `predicate` holds over the frames received so far. */
  async waitFor<T>(
    what: string,
    predicate: (frames: Frame[]) => T | undefined | false,
    timeoutMs = 5_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = predicate(this.frames);
      if (value !== undefined && value !== false) return value;
      const left = deadline - Date.now();
      if (left <= 0) {
        const recent = JSON.stringify(this.frames.slice(-10)).slice(0, 2_000);
        throw new Error(`timed out waiting for ${what}; ${this.frames.length} frames, the last: ${recent}`);
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 200));
        this.waiters.add(wake);
      });
    }
  }

  waitForFrame<T extends Frame["type"]>(
    type: T,
    match: (frame: Extract<Frame, { type: T }>) => boolean = () => true,
    timeoutMs?: number,
  ) {
    return this.waitFor(
      `a ${type} frame`,
      (frames) =>
        frames.find(
          (f): f is Extract<Frame, { type: T }> => f.type === type && match(f as Extract<Frame, { type: T }>),
        ),
      timeoutMs,
    );
  }

  /** Seqs of the message frames received for a chatgroup, in arrival order. */
  seqs(chatgroupId: string): number[] {
    return this.frames.flatMap((f) =>
      f.type === "message" && f.chatgroupId === chatgroupId ? [f.message.seq] : [],
    );
  }

  close() {
    this.ws.close();
    return this.closed;
  }
}

export async function issueTicket(app: FastifyInstance, token: string): Promise<string> {
  const response = await app.inject({
    method: "POST",
    url: `${PREFIX}/realtime/tickets`,
    headers: bearer(token),
  });
  if (response.statusCode !== 201) throw new Error(`ticket: ${response.statusCode} ${response.body}`);
  return (response.json() as { ticket: string }).ticket;
}

/** Opens a socket; rejects with the HTTP status when the upgrade is refused. */
export function openSocket(
  address: string,
  ticket: string | null,
  options: { origin?: string | null; maxPayload?: number; autoPong?: boolean } = {},
): Promise<TestClient> {
  const query = ticket === null ? "" : `?ticket=${encodeURIComponent(ticket)}`;
  const origin = options.origin === undefined ? ORIGIN : options.origin;
  const ws = new WebSocket(`ws://${address}${PREFIX}/realtime${query}`, {
    ...(origin ? { origin } : {}),
    ...(options.maxPayload ? { maxPayload: options.maxPayload } : {}),
    ...(options.autoPong === false ? { autoPong: false } : {}),
  });
  return new Promise((resolve, reject) => {
    const client = new TestClient(ws);
    ws.once("open", () => resolve(client));
    ws.once("unexpected-response", (_request, response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      response.on("end", () =>
        reject(
          Object.assign(new Error(`upgrade refused: ${response.statusCode}`), {
            status: response.statusCode,
            body,
          }),
        ),
      );
    });
    ws.once("error", (error) => reject(error));
  });
}

export async function connect(app: FastifyInstance, address: string, token: string): Promise<TestClient> {
  return openSocket(address, await issueTicket(app, token));
}

export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
}
