import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Db, schema, sql, withTenant } from "@perseus/db";
import {
  createTenant,
  createTestDatabase,
  createTestRedis,
  createTestTokens,
  createUser,
  type TenantFixture,
} from "@perseus/testing";
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import { v7 as uuidv7 } from "uuid";
import { buildApp, PREFIX } from "../src/app.js";
import { sha256hex } from "../src/auth/task-token.js";
import { loadConfig } from "../src/config.js";
import { createLocalStorage, type StorageDriver } from "../src/storage/index.js";

export { PREFIX };

/**
 * The workspace app against a fresh database, a private Redis prefix, real ES256 test
 * tokens and a local storage directory of its own. `env` overrides configuration.
 */
export async function createHarness(options: { env?: Record<string, string>; storage?: StorageDriver } = {}) {
  const database = await createTestDatabase({ poolSize: 10 });
  const redis = await createTestRedis();
  const tokens = await createTestTokens();
  const storageDir = await mkdtemp(join(tmpdir(), "perseus-ws-"));
  const config = loadConfig({
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    AUTH_ISSUER: tokens.issuer,
    REDIS_URL: redis.url,
    REDIS_PREFIX: redis.prefix,
    WORKSPACE_STORAGE_DIR: storageDir,
    ...options.env,
  });
  const storage = options.storage ?? (await createLocalStorage({ root: storageDir }));
  const app = await buildApp({
    config,
    instanceId: `workspace-test-${randomBytes(3).toString("hex")}`,
    version: "0.0.0-test",
    db: database.db,
    redis: redis.client,
    keys: tokens.keys,
    revocations: tokens.revocations,
    storage,
  });
  await app.ready();
  return {
    app,
    db: database.db,
    database,
    redis,
    tokens,
    storage,
    storageDir,
    config,
    async close() {
      await app.close();
      await database.drop();
      await redis.cleanup();
      await rm(storageDir, { recursive: true, force: true });
    },
  };
}
export type Harness = Awaited<ReturnType<typeof createHarness>>;

/** A tenant with an owner token, a second team and a private chatgroup ready for layer tests. */
export async function createWorld(h: Harness): Promise<TenantFixture & { ownerToken: string }> {
  const tenant = await createTenant(h.db);
  const ownerToken = await h.tokens.user({
    userId: tenant.owner.id,
    tenantId: tenant.tenantId,
    role: "owner",
  });
  return { ...tenant, ownerToken };
}

export async function addUser(
  h: Harness,
  tenantId: string,
  role: "owner" | "admin" | "user",
  teams: string[] = [],
  chatgroups: string[] = [],
) {
  const user = await createUser(h.db);
  await withTenant(h.db, { tenantId }, async (tx) => {
    await tx.insert(schema.memberships).values({ tenantId, userId: user.id, role });
    for (const teamId of teams)
      await tx.insert(schema.teamMembers).values({ tenantId, teamId, userId: user.id });
    for (const chatgroupId of chatgroups)
      await tx.insert(schema.chatgroupMembers).values({ tenantId, chatgroupId, userId: user.id });
  });
  const token = await h.tokens.user({ userId: user.id, tenantId, role });
  return { ...user, token };
}

export async function createTeam(db: Db, tenantId: string) {
  const teamId = uuidv7();
  await withTenant(db, { tenantId }, (tx) =>
    tx.insert(schema.teams).values({ tenantId, id: teamId, name: "Team" }),
  );
  return teamId;
}

export async function createChatgroup(
  db: Db,
  tenantId: string,
  teamId: string,
  visibility: "team" | "private" = "team",
) {
  const chatgroupId = uuidv7();
  await withTenant(db, { tenantId }, (tx) =>
    tx.insert(schema.chatgroups).values({ tenantId, id: chatgroupId, teamId, name: "cg", visibility }),
  );
  return chatgroupId;
}

/** A robot holding a live lease on a task of `chatgroupId`; returns its task token and plain robot token. */
export async function createRobotTask(
  h: Harness,
  tenantId: string,
  chatgroupId: string | null,
  ttlSeconds = 600,
) {
  const robotId = uuidv7();
  const taskId = uuidv7();
  const handle = `bot${randomBytes(3).toString("hex")}`;
  const taskToken = `ptt_${tenantId}_${taskId}_${randomBytes(32).toString("base64url")}`;
  await withTenant(h.db, { tenantId }, async (tx) => {
    await tx.insert(schema.robots).values({ tenantId, id: robotId, handle, name: handle });
    await tx.insert(schema.tasks).values({
      tenantId,
      id: taskId,
      robotId,
      chatgroupId,
      prompt: "work",
      status: "running",
      leaseEpoch: 1,
      leaseHolder: "test",
      leaseExpiresAt: sql`now() + make_interval(secs => ${ttlSeconds})` as unknown as Date,
      taskTokenHash: sha256hex(taskToken),
    });
  });
  const robotToken = await h.tokens.robot({ robotId, tenantId, handle });
  return { robotId, taskId, taskToken, robotToken };
}

export async function endLease(h: Harness, tenantId: string, taskId: string) {
  await withTenant(h.db, { tenantId }, (tx) =>
    tx.execute(sql`update tasks set lease_expires_at = now() - interval '1 second' where id = ${taskId}`),
  );
}

type Ref = { layer: "tenant" | "team" | "chatgroup"; layerId: string };
const q = (path: string) => `path=${encodeURIComponent(path)}`;

/** Thin request helpers over app.inject. */
export function client(app: FastifyInstance, token: string) {
  const auth = { authorization: `Bearer ${token}` };
  const call = (options: InjectOptions): Promise<LightMyRequestResponse> =>
    app.inject({ ...options, headers: { ...auth, ...(options.headers ?? {}) } });
  const base = (ref: Ref, kind: "layers" | "views") => `${PREFIX}/${kind}/${ref.layer}/${ref.layerId}`;
  return {
    call,
    put: (
      ref: Ref,
      path: string,
      body: string | Buffer,
      headers: Record<string, string> = { "if-none-match": "*" },
    ) =>
      call({
        method: "PUT",
        url: `${base(ref, "layers")}/files?${q(path)}`,
        payload: body,
        headers: { "content-type": "application/octet-stream", ...headers },
      }),
    read: (
      ref: Ref,
      path: string,
      headers: Record<string, string> = {},
      kind: "layers" | "views" = "views",
    ) => call({ method: "GET", url: `${base(ref, kind)}/files?${q(path)}`, headers }),
    tree: (ref: Ref, path = "", recursive = false, kind: "layers" | "views" = "views") =>
      call({ method: "GET", url: `${base(ref, kind)}/tree?${q(path)}&recursive=${recursive}` }),
    del: (ref: Ref, path: string, etag?: string, recursive = false) =>
      call({
        method: "DELETE",
        url: `${base(ref, "layers")}/files?${q(path)}&recursive=${recursive}`,
        headers: etag ? { "if-match": etag } : {},
      }),
    mkdir: (ref: Ref, path: string) =>
      call({ method: "POST", url: `${base(ref, "layers")}/dirs`, payload: { path } }),
    move: (ref: Ref, from: string, to: string, etag?: string) =>
      call({
        method: "POST",
        url: `${base(ref, "layers")}/move`,
        payload: { from, to },
        headers: etag ? { "if-match": etag } : {},
      }),
    copy: (
      ref: Ref,
      from: Ref & { path: string },
      to: string,
      headers: Record<string, string> = { "if-none-match": "*" },
    ) => call({ method: "POST", url: `${base(ref, "layers")}/copy`, payload: { from, to }, headers }),
    whiteout: (ref: Ref, path: string) =>
      call({ method: "POST", url: `${base(ref, "layers")}/whiteouts`, payload: { path } }),
    versions: (ref: Ref, path: string) =>
      call({ method: "GET", url: `${base(ref, "layers")}/versions?${q(path)}` }),
    readVersion: (ref: Ref, path: string, version: number) =>
      call({ method: "GET", url: `${base(ref, "layers")}/versions/${version}?${q(path)}` }),
    restore: (ref: Ref, path: string, version: number, etag?: string) =>
      call({
        method: "POST",
        url: `${base(ref, "layers")}/versions/restore`,
        payload: { path, version },
        headers: etag ? { "if-match": etag } : {},
      }),
  };
}
