import { createServer, type Server } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { schema, withTenant } from "@perseus/db";
import {
  createTenant,
  getFreePort,
  type ManagedProcess,
  startProcess,
  stopAllProcesses,
  type TenantFixture,
} from "@perseus/testing";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ChatTestEnv,
  createChatTestEnv,
  createMember,
  type Member,
  ORIGIN,
  openSocket,
  PREFIX,
  type TestClient,
} from "./helper.js";

// T15 at reduced scale: two chat replicas as real processes, 60 clients, 10 msg/s; one
// replica is SIGKILLed under load, its clients resume on the other with afterSeq, and
// every client's sequence must equal the database's: no gap, no reorder, no duplicate.

const appRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
const CLIENTS = 60;
const RATE_PER_SECOND = 10;
const DURATION_MS = 5_000;
const KILL_AFTER_MS = 2_000;

let env: ChatTestEnv;
let jwks: Server;
let tenant: TenantFixture;
let members: Member[];
const replicas: { process: ManagedProcess; address: string }[] = [];
const sockets: TestClient[] = [];

async function startReplica(name: string, jwksUrl: string) {
  const port = await getFreePort();
  const process = await startProcess({
    name,
    command: globalThis.process.execPath,
    args: ["--conditions=@perseus/source", "--import", "tsx", "src/server.ts"],
    cwd: appRoot,
    env: {
      NODE_ENV: "test",
      LOG_LEVEL: "warn",
      HOST: "127.0.0.1",
      PORT: String(port),
      INSTANCE_ID: name,
      DATABASE_URL: env.database.url,
      DATABASE_POOL_SIZE: "6",
      REDIS_URL: env.redis.url,
      REDIS_PREFIX: env.redis.prefix,
      PUBLIC_ORIGIN: ORIGIN,
      AUTH_JWKS_URL: jwksUrl,
      AUTH_ISSUER: env.tokens.issuer,
      CHAT_STREAM_BLOCK_MS: "1000",
    },
    ready: { url: `http://127.0.0.1:${port}/readyz` },
    readyTimeoutMs: 40_000,
  });
  return { process, address: `127.0.0.1:${port}` };
}

async function api(address: string, path: string, token: string, body?: unknown) {
  const response = await fetch(`http://${address}${PREFIX}${path}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(5_000),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** One browser tab: its seqs accumulate across reconnects, as a client's store would. */
type Tab = { member: Member; seqs: number[]; socket: TestClient | null; reconnects: number; reloads: number };

async function attach(tab: Tab, address: string, chatgroupId: string) {
  const { json } = await api(address, "/realtime/tickets", tab.member.token);
  const socket = await openSocket(address, json.ticket as string);
  sockets.push(socket);
  tab.socket = socket;
  socket.ws.on("message", (data) => {
    const frame = JSON.parse(data.toString()) as { type: string; message?: { seq: number } };
    if (frame.type === "message" && frame.message) tab.seqs.push(frame.message.seq);
    if (frame.type === "reload_required") tab.reloads++;
  });
  socket.send({ type: "subscribe", chatgroupId, afterSeq: tab.seqs.at(-1) ?? 0 });
  await socket.waitForFrame("subscribed", () => true, 10_000);
}

beforeAll(async () => {
  env = await createChatTestEnv();
  jwks = createServer((_request, response) => {
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify(env.tokens.jwks));
  });
  await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/jwks.json`;
  tenant = await createTenant(env.database.db);
  members = await Promise.all(Array.from({ length: 6 }, () => createMember(env, tenant)));
  replicas.push(...(await Promise.all([startReplica("chat-a", jwksUrl), startReplica("chat-b", jwksUrl)])));
}, 120_000);

afterAll(async () => {
  for (const socket of sockets) socket.ws.terminate();
  await stopAllProcesses();
  await new Promise((resolve) => jwks?.close(resolve));
  await env?.cleanup();
});

describe("T15: replica SIGKILL under load", () => {
  it("every client ends with exactly the database's sequence", async () => {
    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    const { chatgroupId } = tenant;
    const tabs: Tab[] = Array.from({ length: CLIENTS }, (_, i) => ({
      member: members[i % members.length] as Member,
      seqs: [],
      socket: null,
      reconnects: 0,
      reloads: 0,
    }));
    await Promise.all(tabs.map((tab, i) => attach(tab, i % 2 === 0 ? a.address : b.address, chatgroupId)));

    // Clients of the killed replica reconnect to the survivor and resume from their last seq.
    const reconnecting: Promise<void>[] = [];
    for (const [i, tab] of tabs.entries()) {
      if (i % 2 !== 0) continue;
      void tab.socket?.closed.then(() => {
        tab.reconnects++;
        reconnecting.push(attach(tab, b.address, chatgroupId));
      });
    }

    let acknowledged = 0;
    const failures: string[] = [];
    let isKilled = false;
    const started = Date.now();
    const posts: Promise<void>[] = [];
    const killer = (async () => {
      await new Promise((resolve) => setTimeout(resolve, KILL_AFTER_MS));
      await a.process.kill("SIGKILL");
      isKilled = true;
    })();
    for (let i = 0; Date.now() - started < DURATION_MS; i++) {
      const target = i % 2 === 0 && !isKilled ? a : b;
      const author = members[i % members.length] as Member;
      posts.push(
        api(target.address, `/chatgroups/${chatgroupId}/messages`, author.token, { body: `load ${i}` }).then(
          (response) => {
            if (response.status === 201) acknowledged++;
            else failures.push(`${target === a ? "a" : "b"}: ${response.status}`);
          },
          (error: Error) => {
            failures.push(`${target === a ? "a" : "b"}: ${error.message}`);
          },
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 1_000 / RATE_PER_SECOND));
    }
    await Promise.all([...posts, killer]);
    await Promise.all(reconnecting);

    const rows = await withTenant(env.database.db, tenant, (tx) =>
      tx
        .select({ seq: schema.messages.seq })
        .from(schema.messages)
        .where(eq(schema.messages.chatgroupId, chatgroupId)),
    );
    const expected = rows.map((row) => row.seq).sort((x, y) => x - y);
    expect(expected).toEqual(Array.from({ length: expected.length }, (_, i) => i + 1));
    // Only posts in flight to the killed replica may fail; the survivor answers every one.
    expect(
      failures.filter((failure) => failure.startsWith("b")),
      failures.join(", "),
    ).toEqual([]);
    expect(acknowledged).toBeGreaterThanOrEqual(25);
    expect(expected.length).toBeGreaterThanOrEqual(acknowledged);

    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && tabs.some((tab) => tab.seqs.length < expected.length)) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, 500)); // a late duplicate would show up now
    const problems = tabs.flatMap((tab, i) => {
      const gaps = expected.filter((seq) => !tab.seqs.includes(seq)).length;
      const duplicates = tab.seqs.length - new Set(tab.seqs).size;
      const reorders = tab.seqs.filter((seq, j) => j > 0 && seq <= (tab.seqs[j - 1] ?? 0)).length;
      return gaps || duplicates || reorders || tab.reloads
        ? [{ tab: i, gaps, duplicates, reorders, reloads: tab.reloads }]
        : [];
    });
    expect(problems).toEqual([]);
    expect(tabs.filter((tab) => tab.reconnects > 0)).toHaveLength(CLIENTS / 2);
    for (const tab of tabs) expect(tab.seqs).toEqual(expected);
  }, 90_000);
});
