import { buildPath, chatRoutes } from "@perseus/contracts";
import { createTenant, type TenantFixture } from "@perseus/testing";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  buildTestApp,
  type ChatTestEnv,
  connect,
  createChatTestEnv,
  createMember,
  createPrivateChatgroup,
  createRobot,
  issueTicket,
  listen,
  type Member,
  openSocket,
  ownerOf,
  PREFIX,
  post,
  type TestClient,
} from "./helper.js";

let env: ChatTestEnv;
let app: FastifyInstance;
let address: string;
let tenantA: TenantFixture;
let tenantB: TenantFixture;
let mallory: Member; // tenant A, the prober
let bobB: Member;
let canaryMessageId: string;
let privateId: string;
let privateMessageId: string;
let robotToken: string;
const CANARY = `canary${Date.now()}`;
const clients: TestClient[] = [];

const validBodies: Partial<Record<keyof typeof chatRoutes, unknown>> = {
  postMessage: { body: "probe" },
  editMessage: { body: "probe" },
  markRead: { seq: 1 },
};

beforeAll(async () => {
  env = await createChatTestEnv();
  app = await buildTestApp(env, {
    config: { CHAT_WS_FRAMES_PER_SECOND: "50", CHAT_WS_MAX_PAYLOAD: "4096", CHAT_WS_PING_INTERVAL_MS: "200" },
  });
  address = await listen(app);
  tenantA = await createTenant(env.database.db);
  tenantB = await createTenant(env.database.db);
  mallory = await createMember(env, tenantA);
  bobB = await ownerOf(env, tenantB);
  const canary = await post(app, bobB.token, tenantB.chatgroupId, { body: `${CANARY} secret of B` });
  canaryMessageId = canary.body.id;
  const alice = await createMember(env, tenantA);
  privateId = await createPrivateChatgroup(env.database.db, tenantA, [alice.id]);
  privateMessageId = (await post(app, alice.token, privateId, { body: `${CANARY} private to alice` })).body
    .id;
  const robotId = await createRobot(env.database.db, tenantA, "prober", {
    type: "tenant",
    id: tenantA.tenantId,
  });
  robotToken = await env.tokens.robot({ robotId, tenantId: tenantA.tenantId, handle: "prober" });
});

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await app?.close();
  await env?.cleanup();
});

function strip(body: Record<string, unknown>) {
  const { requestId: _r, instance: _i, ...rest } = body;
  return rest;
}

async function probeAll(token: string, ids: { chatgroupId: string; messageId: string }) {
  const results: { name: string; status: number; body: string }[] = [];
  for (const [name, spec] of Object.entries(chatRoutes)) {
    if (!spec.path.includes(":")) continue;
    const url = PREFIX + buildPath(spec.path, { ...ids, emoji: "👍" });
    const payload = validBodies[name as keyof typeof chatRoutes];
    const response = await app.inject({
      method: spec.method,
      url,
      headers: bearer(token),
      ...(payload ? { payload } : {}),
    });
    results.push({ name, status: response.statusCode, body: response.body });
  }
  return results;
}

describe("T2: nothing of another tenant or a private chatgroup is reachable", () => {
  it("answers 404 on every id-bearing route, with bodies identical to 'does not exist'", async () => {
    const foreign = await probeAll(mallory.token, {
      chatgroupId: tenantB.chatgroupId,
      messageId: canaryMessageId,
    });
    const missing = await probeAll(mallory.token, {
      chatgroupId: crypto.randomUUID(),
      messageId: crypto.randomUUID(),
    });
    const privateProbe = await probeAll(mallory.token, {
      chatgroupId: privateId,
      messageId: privateMessageId,
    });
    expect(foreign.length).toBeGreaterThanOrEqual(9);
    for (const [i, result] of foreign.entries()) {
      expect(result.status, result.name).toBe(404);
      expect(privateProbe[i]?.status, result.name).toBe(404);
      expect(result.body).not.toContain(CANARY);
      expect(strip(JSON.parse(result.body)), result.name).toEqual(
        strip(JSON.parse(missing[i]?.body ?? "{}")),
      );
      expect(strip(JSON.parse(privateProbe[i]?.body ?? "{}")), result.name).toEqual(
        strip(JSON.parse(result.body)),
      );
    }
  });

  it("does the same for a robot token without a task lease", async () => {
    for (const result of await probeAll(robotToken, {
      chatgroupId: tenantA.chatgroupId,
      messageId: privateMessageId,
    })) {
      expect([403, 404], result.name).toContain(result.status);
      expect(result.body).not.toContain(CANARY);
    }
  });

  it("leaks nothing through lists and search", async () => {
    const list = await app.inject({
      method: "GET",
      url: `${PREFIX}/chatgroups`,
      headers: bearer(mallory.token),
    });
    expect(list.json().items.map((c: { chatgroupId: string }) => c.chatgroupId)).toEqual([
      tenantA.chatgroupId,
    ]);
    const search = await app.inject({
      method: "GET",
      url: `${PREFIX}/search?q=${CANARY}`,
      headers: bearer(mallory.token),
    });
    expect(search.statusCode).toBe(200);
    expect(search.json().items).toEqual([]);
    const scoped = await app.inject({
      method: "GET",
      url: `${PREFIX}/search?q=${CANARY}&chatgroupId=${tenantB.chatgroupId}`,
      headers: bearer(mallory.token),
    });
    expect(scoped.statusCode).toBe(404);
    const unauthenticated = await app.inject({ method: "GET", url: `${PREFIX}/chatgroups` });
    expect(unauthenticated.statusCode).toBe(401);
  });

  it("refuses WS subscriptions to foreign and private chatgroups exactly like unknown ones", async () => {
    const c = await connect(app, address, mallory.token);
    clients.push(c);
    const errors = [];
    for (const chatgroupId of [tenantB.chatgroupId, privateId, crypto.randomUUID()]) {
      c.send({ type: "subscribe", chatgroupId, afterSeq: 0 });
      const error = await c.waitForFrame("error", (f) => f.chatgroupId === chatgroupId);
      errors.push({ ...error, chatgroupId: "x" });
    }
    expect(errors[0]).toEqual({
      type: "error",
      code: "not_found",
      message: "chatgroup not found",
      chatgroupId: "x",
    });
    expect(errors[1]).toEqual(errors[0]);
    expect(errors[2]).toEqual(errors[0]);
    expect(JSON.stringify(c.frames)).not.toContain(CANARY);
    expect(c.frames.some((f) => f.type === "subscribed" || f.type === "message")).toBe(false);
  });
});

describe("T8: WebSocket abuse", () => {
  it("refuses the upgrade for a foreign or missing Origin and for missing, bad, reused or expired tickets", async () => {
    const refused = async (ticket: string | null, origin?: string | null) => {
      const error = (await openSocket(address, ticket, { origin }).then(
        () => ({ status: 101 }),
        (e: { status?: number }) => e,
      )) as { status?: number; body?: string };
      return error.status;
    };
    expect(await refused(await issueTicket(app, mallory.token), "https://evil.example")).toBe(403);
    expect(
      await refused(await issueTicket(app, mallory.token), "http://console.perseus.test.evil.example"),
    ).toBe(403);
    expect(await refused(await issueTicket(app, mallory.token), null)).toBe(403);
    expect(await refused(null)).toBe(401);
    expect(await refused("not-a-ticket")).toBe(401);
    expect(await refused("A".repeat(43))).toBe(401);

    const ticket = await issueTicket(app, mallory.token);
    // A plain GET (no upgrade) is refused without burning the ticket.
    const plain = await app.inject({ method: "GET", url: `${PREFIX}/realtime?ticket=${ticket}` });
    expect(plain.statusCode).toBe(400);
    const first = await openSocket(address, ticket);
    clients.push(first);
    expect(await refused(ticket)).toBe(401);

    const expiring = await issueTicket(app, mallory.token);
    for (const key of await env.redis.client.keys(`${env.redis.prefix}:chat:ticket:*`))
      await env.redis.client.pexpire(key, 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await refused(expiring)).toBe(401);
  });

  it("answers invalid JSON and unknown types with error frames, and closes on repeated abuse", async () => {
    const c = await connect(app, address, mallory.token);
    clients.push(c);
    c.send("{not json");
    expect(await c.waitForFrame("error")).toMatchObject({ code: "invalid_frame" });
    c.send({ type: "launch_missiles" });
    expect(await c.waitForFrame("error", (f) => f.code === "unknown_type")).toBeTruthy();
    c.send({ type: "subscribe", chatgroupId: "nope" });
    expect(await c.waitForFrame("error", (f) => f.message === "invalid subscribe frame")).toMatchObject({
      code: "invalid_frame",
    });
    c.send({ type: "ping", id: "p1" });
    expect(await c.waitForFrame("pong")).toEqual({ type: "pong", id: "p1" });
    for (let i = 0; i < 25; i++) c.send("[]");
    expect(await c.closed).toBe(1008);
  });

  it("closes on an oversized frame (1009) and on a flood (4029), staying healthy", async () => {
    const big = await connect(app, address, mallory.token);
    clients.push(big);
    big.send(JSON.stringify({ type: "ping", id: "x".repeat(10_000) }));
    expect(await big.closed).toBe(1009);

    const flood = await connect(app, address, mallory.token);
    clients.push(flood);
    const started = Date.now();
    for (let i = 0; i < 1_000 && flood.ws.readyState === flood.ws.OPEN; i++) flood.send({ type: "ping" });
    expect(await flood.closed).toBe(4029);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(flood.frames.some((f) => f.type === "error" && f.code === "rate_limited")).toBe(true);
    expect(flood.frames.filter((f) => f.type === "pong").length).toBeLessThanOrEqual(50);

    const ready = await app.inject({ method: "GET", url: "/readyz" });
    expect(ready.statusCode).toBe(200);
    const fine = await connect(app, address, mallory.token);
    clients.push(fine);
    fine.send({ type: "subscribe", chatgroupId: tenantA.chatgroupId });
    expect(await fine.waitForFrame("subscribed")).toMatchObject({ chatgroupId: tenantA.chatgroupId });
  });

  it("terminates a socket that stops answering pings, and keeps live ones", async () => {
    const dead = await openSocket(address, await issueTicket(app, mallory.token), { autoPong: false });
    const alive = await connect(app, address, mallory.token);
    clients.push(dead, alive);
    const started = Date.now();
    expect(await dead.closed).toBe(1006);
    expect(Date.now() - started).toBeLessThan(2_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(alive.closeCode).toBeNull();
  });

  it("does not let a robot token open a realtime socket", async () => {
    const response = await app.inject({
      method: "POST",
      url: `${PREFIX}/realtime/tickets`,
      headers: bearer(robotToken),
    });
    expect(response.statusCode).toBe(403);
  });
});
