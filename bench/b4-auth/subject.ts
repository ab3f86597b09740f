// One B4 subject, chosen by argv[2]: the bare baselines (node:http, Fastify) and the
// Perseus service stack (kit app + token verification) with nothing, one Postgres read,
// or one Redis read behind it. Prints `READY {"port", "token"}` when listening.
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { defineRoute } from "@perseus/contracts";
import { createDb, createPool, schema, withTenant } from "@perseus/db";
import {
  authPlugin,
  createServiceApp,
  createTokenVerifier,
  generateSigningKey,
  registerRoutes,
  signToken,
  staticRevocations,
} from "@perseus/kit";
import { eq } from "drizzle-orm";
import Fastify from "fastify";
import { Redis } from "ioredis";
import { createLocalJWKSet } from "jose";
import { z } from "zod";

const variant = process.argv[2] ?? "node-http";
const databaseUrl = process.env.BENCH_DATABASE_URL ?? "postgres://perseus_app@127.0.0.1:5432/perseus_bench";
const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const ready = (port: number, token = "") =>
  console.log(`READY ${JSON.stringify({ port: String(port), token })}`);

if (variant === "node-http") {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"hello":"world"}');
  });
  server.listen(0, "127.0.0.1", () => ready((server.address() as { port: number }).port));
} else if (variant === "fastify") {
  const app = Fastify({ logger: false });
  app.get("/hello", async () => ({ hello: "world" }));
  await app.listen({ port: 0, host: "127.0.0.1" });
  ready((app.server.address() as { port: number }).port);
} else {
  const key = await generateSigningKey();
  const verifier = createTokenVerifier({
    keys: createLocalJWKSet({ keys: [key.publicJwk] }),
    issuer: "perseus",
    revocations: staticRevocations(),
  });
  const tenantId = randomUUID();
  const userId = randomUUID();
  const teamId = randomUUID();
  const pool = createPool({ url: databaseUrl, max: 8 });
  const db = createDb(pool);
  const redis = new Redis(redisUrl);
  if (variant === "auth-pg") {
    await withTenant(db, { tenantId }, async (tx) => {
      await tx.insert(schema.tenants).values({ tenantId, name: "bench" });
      await tx.insert(schema.teams).values({ tenantId, id: teamId, name: "bench team" });
    });
  }
  await redis.set(`bench:${tenantId}`, "value");
  // No logLevel: services log at the production default (info), one access line per request.
  const app = await createServiceApp({
    name: "bench",
    version: "0",
    prefix: "/api/bench",
    description: "B4 subject",
    checks: [],
  });
  await app.register(authPlugin, { verifier, accept: ["user"] });
  const route = defineRoute({
    method: "GET",
    path: "/hello",
    summary: "authenticated hello",
    auth: "user",
    responses: { 200: z.object({ hello: z.string() }) },
  });
  registerRoutes(
    app,
    "/api/bench",
    { route },
    {
      route: async ({ actor }) => {
        if (variant === "auth-pg") {
          const [team] = await withTenant(db, { tenantId: actor.tenantId }, (tx) =>
            tx.select({ name: schema.teams.name }).from(schema.teams).where(eq(schema.teams.id, teamId)),
          );
          return { hello: team?.name ?? "missing" };
        }
        if (variant === "auth-redis")
          return { hello: (await redis.get(`bench:${actor.tenantId}`)) ?? "missing" };
        return { hello: "world" };
      },
    },
  );
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { token } = await signToken(key, {
    kind: "user",
    issuer: "perseus",
    subject: userId,
    ttlSeconds: 3600,
    claims: { tid: tenantId, role: "user", sid: randomUUID() },
  });
  ready((app.server.address() as { port: number }).port, token);
  process.on("SIGTERM", async () => {
    await app.close();
    await pool.end();
    redis.disconnect();
    process.exit(0);
  });
}

// The baselines stop on SIGTERM with a normal exit too (a CPU profile is written on exit).
if (process.listenerCount("SIGTERM") === 0) process.on("SIGTERM", () => process.exit(0));
