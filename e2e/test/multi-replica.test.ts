import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ChatgroupActivityResponse, Message, SessionResponse } from "@perseus/contracts";
import { type ManagedProcess, startProcess } from "@perseus/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { edgeApi } from "./edge-api.js";

/**
 * The multi-replica proof with the launcher (`pnpm start --replicas chat=2,dispatch=2`):
 * people post and ask @jane for work through the edge while one chat and one dispatch
 * replica are SIGKILLed. Every acknowledged message is stored once, in order, and every
 * task gets exactly one reply.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const tag = randomBytes(3).toString("hex");
const adminBase = "postgres://postgres@127.0.0.1:5432";
const database = `perseus_replicas_${tag}`;
const dataDir = mkdtempSync(join(tmpdir(), "perseus-replicas-"));
let launcher: ManagedProcess;
let robot: ManagedProcess | undefined;
let edgeUrl: string;
let token: string;
let chatgroupId: string;

const isPortFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });

/** A base port whose whole launcher range (edge, 4 services, replicas 10 apart) is free. */
async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below Linux's ephemeral range (32768+), and apart from the edge's launcher test.
    const base = 26_000 + Math.floor(Math.random() * 600) * 10;
    const ports = [base, ...[1, 2, 3, 4].flatMap((offset) => [base + offset, base + offset + 10])];
    if ((await Promise.all(ports.map(isPortFree))).every(Boolean)) return base;
  }
  throw new Error("no free port range");
}

const api = edgeApi(
  () => edgeUrl,
  () => token,
);

async function query<R>(sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: `${adminBase}/${database}` });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as R[];
  } finally {
    await client.end();
  }
}

type LauncherState = { children: { name: string; pid: number }[] };
const launcherState = () => JSON.parse(readFileSync(join(dataDir, "launcher.json"), "utf8")) as LauncherState;

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: `${adminBase}/postgres` });
  await admin.connect();
  await admin.query(`create database ${database}`);
  await admin.end();

  const basePort = await freeBasePort();
  edgeUrl = `http://127.0.0.1:${basePort}`;
  launcher = await startProcess({
    name: "launcher",
    command: process.execPath,
    args: [
      join(root, "scripts", "launcher", "launch.mjs"),
      "--replicas",
      "chat=2,dispatch=2",
      "--base-port",
      String(basePort),
      "--database-url",
      `${adminBase}/${database}`,
      "--redis-prefix",
      `perseus-replicas-${tag}`,
      "--data-dir",
      dataDir,
      "--ready-timeout",
      "180",
    ],
    cwd: root,
    // Short leases and sweeps so that a killed replica's work moves on within seconds.
    env: {
      LOG_LEVEL: "warn",
      LEASE_TTL_MS: "3000",
      HEARTBEAT_INTERVAL_MS: "500",
      OFFER_TTL_MS: "3000",
      SWEEP_INTERVAL_MS: "250",
      RECONCILE_INTERVAL_MS: "1000",
      RETRY_BASE_MS: "100",
    },
    ready: { line: /Demo robot/ },
    readyTimeoutMs: 240_000,
  });
  const credential = (
    JSON.parse(readFileSync(join(dataDir, "demo-robot.json"), "utf8")) as { secret: string }
  ).secret;
  robot = await startProcess({
    name: "jane",
    command: process.execPath,
    args: [
      join(root, "apps", "nanobot", "dist", "cli.js"),
      "connect",
      "--url",
      edgeUrl,
      "--credential",
      credential,
      "--data-dir",
      join(dataDir, "jane"),
    ],
    cwd: join(root, "apps", "nanobot"),
    ready: { line: /connected/i },
    readyTimeoutMs: 60_000,
  });
  token = (
    await api(SessionResponse, "POST", "/api/auth/login", {
      email: "demo@perseus.local",
      password: "perseus-demo-password",
    })
  ).accessToken;
  chatgroupId = (await api(ChatgroupActivityResponse, "GET", "/api/chat/chatgroups")).items[0]!.chatgroupId;
}, 300_000);

afterAll(async () => {
  await robot?.stop().catch(() => {});
  await launcher?.stop(30_000).catch(() => {});
  const admin = new pg.Client({ connectionString: `${adminBase}/postgres` });
  await admin.connect();
  await admin.query(`drop database if exists ${database} with (force)`).catch(() => {});
  await admin.end();
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe("two replicas each of chat and dispatch behind the edge", () => {
  it("SIGKILL one of each under load: acknowledged messages stored once and in order, every task answered once", async () => {
    const acknowledged: Message[] = [];
    const tasks: string[] = [];
    let failures = 0;
    const post = async (body: string) => {
      try {
        acknowledged.push(
          await api(Message, "POST", `/api/chat/chatgroups/${chatgroupId}/messages`, { body }),
        );
        return true;
      } catch {
        failures++; // not acknowledged: the client would show it as unsent
        return false;
      }
    };

    const kills = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const { children } = launcherState();
      for (const name of ["chat-2", "dispatch-1"]) {
        const child = children.find((c) => c.name === name)!;
        process.kill(child.pid, "SIGKILL");
      }
    })();
    for (let i = 0; i < 120; i++) {
      const marker = `m${i}-${tag}`;
      if (i % 10 === 0) {
        if (await post(`@jane echo ${marker}`)) tasks.push(marker);
      } else {
        await post(`plain ${marker}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await kills;

    // Acknowledged posts: each stored exactly once; the chatgroup's sequence has no gaps.
    const stored = await query<{ id: string; seq: number }>(
      "select id, seq from messages where chatgroup_id = $1 and author_type = 'user' order by seq",
      [chatgroupId],
    );
    const storedIds = stored.map((row) => row.id);
    for (const message of acknowledged) expect(storedIds.filter((id) => id === message.id)).toHaveLength(1);
    const ackedInOrder = [...acknowledged].sort((a, b) => a.seq - b.seq).map((m) => m.id);
    expect(storedIds.filter((id) => ackedInOrder.includes(id))).toEqual(ackedInOrder);
    const allSeqs = (
      await query<{ seq: number }>("select seq from messages where chatgroup_id = $1 order by seq", [
        chatgroupId,
      ])
    ).map((row) => Number(row.seq));
    expect(allSeqs).toEqual(Array.from({ length: allSeqs.length }, (_, i) => allSeqs[0]! + i));
    expect(acknowledged.length).toBeGreaterThan(100);

    // Every acknowledged @jane task reaches exactly one robot reply carrying its marker.
    const deadline = Date.now() + 120_000;
    let replies: { body: string }[] = [];
    while (Date.now() < deadline) {
      replies = await query<{ body: string }>(
        "select body from messages where chatgroup_id = $1 and author_type = 'robot'",
        [chatgroupId],
      );
      if (tasks.every((marker) => replies.some((r) => r.body.includes(marker)))) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // a late duplicate would show now
    replies = await query<{ body: string }>(
      "select body from messages where chatgroup_id = $1 and author_type = 'robot'",
      [chatgroupId],
    );
    const taskRows = await query<{ status: string; prompt: string; error: string | null }>(
      "select status, prompt, error from tasks",
    );
    for (const marker of tasks) {
      expect(
        replies.filter((r) => r.body.includes(marker)),
        `${marker}: tasks ${JSON.stringify(taskRows)} replies ${JSON.stringify(replies)}`,
      ).toHaveLength(1);
    }
    const statuses = await query<{ status: string; n: number }>(
      "select status, count(*)::int as n from tasks group by status",
    );
    expect(statuses.filter((s) => s.status !== "succeeded")).toEqual([]);
    console.log(`acknowledged ${acknowledged.length}, refused ${failures}, tasks ${tasks.length}`);
  }, 240_000);
});
