// Real identities for benchmarks that drive a whole service: a tenant with an owner, robots
// with tenant scope, ES256 tokens signed by a bench key, and that key's JWKS served over HTTP
// (where a service expects the auth service). Rows go in as the application role, under RLS.
import { randomBytes, randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createDb, createPool, type Db, schema, withTenant } from "@perseus/db";
import { migrate } from "@perseus/db/migrate";
import { generateSigningKey, signToken } from "@perseus/kit";
import { v7 as uuidv7 } from "uuid";

export const BENCH_ISSUER = "perseus-bench";

/** Migrates the bench database (as b4 does) and returns its admin and application-role URLs. */
export async function benchDatabase(adminUrl: string, name = "perseus_bench") {
  const admin = new URL(adminUrl);
  admin.pathname = `/${name}`;
  await migrate({ adminUrl: admin.toString() });
  const app = new URL(admin);
  app.username = "perseus_app";
  app.password = "";
  return { adminUrl: admin.toString(), appUrl: app.toString() };
}

export type Signer = {
  jwksUrl: string;
  user(userId: string, tenantId: string, role: "owner" | "admin" | "user"): Promise<string>;
  robot(robot: { robotId: string; tenantId: string; handle: string }): Promise<string>;
  close(): Promise<void>;
};

/** A signing key and a JWKS endpoint for it on loopback. */
export async function startSigner(ttlSeconds = 3_600): Promise<Signer> {
  const key = await generateSigningKey();
  const body = JSON.stringify({ keys: [key.publicJwk] });
  const server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const sign = async (kind: "user" | "robot", subject: string, claims: Record<string, unknown>) =>
    (await signToken(key, { kind, issuer: BENCH_ISSUER, subject, ttlSeconds, claims })).token;
  return {
    jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
    user: (userId, tenantId, role) => sign("user", userId, { tid: tenantId, role, sid: randomUUID() }),
    robot: (robot) =>
      sign("robot", robot.robotId, { tid: robot.tenantId, hdl: robot.handle, cid: randomUUID() }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export type BenchTenant = { tenantId: string; ownerId: string; teamId: string; chatgroupId: string };

/** Opens a small pool as the application role. */
export function openDb(appUrl: string, max = 4): { db: Db; close: () => Promise<void> } {
  const pool = createPool({ url: appUrl, max, applicationName: "perseus-bench" });
  return { db: createDb(pool), close: () => pool.end() };
}

/** A tenant of its own for one benchmark run: an owner in a team with one chatgroup. */
export async function createBenchTenant(db: Db): Promise<BenchTenant> {
  const tag = randomBytes(4).toString("hex");
  const tenantId = uuidv7();
  const ownerId = uuidv7();
  const teamId = uuidv7();
  const chatgroupId = uuidv7();
  await db.insert(schema.users).values({
    id: ownerId,
    email: `bench-${tag}@example.test`,
    name: `Bench ${tag}`,
    handle: `bench${tag}`,
  });
  await withTenant(db, { tenantId }, async (tx) => {
    await tx.insert(schema.tenants).values({ tenantId, name: `Bench ${tag}` });
    await tx.insert(schema.memberships).values({ tenantId, userId: ownerId, role: "owner" });
    await tx.insert(schema.teams).values({ tenantId, id: teamId, name: "General" });
    await tx.insert(schema.teamMembers).values({ tenantId, teamId, userId: ownerId });
    await tx.insert(schema.chatgroups).values({ tenantId, id: chatgroupId, teamId, name: "general" });
  });
  return { tenantId, ownerId, teamId, chatgroupId };
}

export type BenchRobot = { robotId: string; tenantId: string; handle: string };

/** `count` robots scoped to the whole tenant, inserted as the auth service would. */
export async function createBenchRobots(
  db: Db,
  tenant: BenchTenant,
  count: number,
  maxConcurrency: number,
): Promise<BenchRobot[]> {
  const robots = Array.from({ length: count }, (_, i) => ({
    robotId: uuidv7(),
    tenantId: tenant.tenantId,
    handle: `bot${i}`,
  }));
  await withTenant(db, { tenantId: tenant.tenantId }, async (tx) => {
    for (let i = 0; i < robots.length; i += 500) {
      const slice = robots.slice(i, i + 500);
      await tx.insert(schema.robots).values(
        slice.map((r) => ({
          tenantId: r.tenantId,
          id: r.robotId,
          handle: r.handle,
          name: `Robot ${r.handle}`,
          maxConcurrency,
          config: {},
        })),
      );
      await tx.insert(schema.robotScopes).values(
        slice.map((r) => ({
          tenantId: r.tenantId,
          robotId: r.robotId,
          scopeType: "tenant" as const,
          scopeId: r.tenantId,
        })),
      );
    }
  });
  return robots;
}
