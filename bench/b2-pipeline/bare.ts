// B2 baseline: the whole send → persist → deliver path in one bare process, on the same
// messages table and the same kind of Redis stream, without the service stack:
// HTTP POST → one autocommitted INSERT → XADD → XREADGROUP → `ws` send to the room.
// No auth, no RLS (admin connection), no outbox, no transaction around the insert.
// Prints `READY {"port"}`.
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import pg from "pg";
import { type WebSocket, WebSocketServer } from "ws";

const [adminUrl, redisUrl, stream, tenantId] = process.argv.slice(2) as [string, string, string, string];
const pool = new pg.Pool({ connectionString: adminUrl, max: 10 });
const redis = new Redis(redisUrl);
const reader = new Redis(redisUrl);
const group = "bare";
await redis.xgroup("CREATE", stream, group, "$", "MKSTREAM").catch(() => {});

const seqs = new Map<string, number>();
const rooms = new Map<string, Set<WebSocket>>();

const server = createServer((request, response) => {
  const match = /^\/rooms\/([0-9a-f-]{36})\/messages$/.exec(request.url ?? "");
  if (request.method !== "POST" || !match) {
    response.writeHead(404).end();
    return;
  }
  const chatgroupId = match[1]!;
  let raw = "";
  request.on("data", (chunk: Buffer) => {
    raw += chunk.toString();
  });
  request.on("end", async () => {
    try {
      const { body, authorId } = JSON.parse(raw) as { body: string; authorId: string };
      const seq = (seqs.get(chatgroupId) ?? 0) + 1;
      seqs.set(chatgroupId, seq);
      const id = randomUUID();
      await pool.query(
        `insert into messages (tenant_id, id, chatgroup_id, seq, author_type, author_id, body)
         values ($1, $2, $3, $4, 'user', $5, $6)`,
        [tenantId, id, chatgroupId, seq, authorId, body],
      );
      const message = { id, chatgroupId, seq, authorId, body, createdAt: new Date().toISOString() };
      await redis.xadd(stream, "MAXLEN", "~", 100_000, "*", "e", JSON.stringify(message));
      response.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify(message));
    } catch (error) {
      response.writeHead(500).end(String(error));
    }
  });
});

// Like Fastify's default: the client's keep-alive sockets must not be closed under it mid-run.
server.keepAliveTimeout = 72_000;

const wss = new WebSocketServer({ server, path: "/realtime" });
wss.on("connection", (socket, request) => {
  const room = new URL(request.url ?? "/", "http://x").searchParams.get("room") ?? "";
  let members = rooms.get(room);
  if (!members) {
    members = new Set();
    rooms.set(room, members);
  }
  members.add(socket);
  socket.on("close", () => members.delete(socket));
});

let running = true;
async function tail() {
  while (running) {
    const result = (await reader.xreadgroup(
      "GROUP",
      group,
      "c1",
      "COUNT",
      500,
      "BLOCK",
      1_000,
      "STREAMS",
      stream,
      ">",
    )) as [string, [string, string[]][]][] | null;
    if (!result) continue;
    const entries = result[0]![1];
    for (const [, fields] of entries) {
      const message = JSON.parse(fields[1]!) as { chatgroupId: string };
      const frame = JSON.stringify({ type: "message", chatgroupId: message.chatgroupId, message });
      for (const socket of rooms.get(message.chatgroupId) ?? []) socket.send(frame);
    }
    await redis.xack(stream, group, ...entries.map(([id]) => id));
  }
}
const tailing = tail();

server.listen(0, "127.0.0.1", () => {
  console.log(`READY ${JSON.stringify({ port: String((server.address() as AddressInfo).port) })}`);
});
process.on("SIGTERM", async () => {
  running = false;
  reader.disconnect();
  await tailing.catch(() => {});
  wss.close();
  server.close();
  redis.disconnect();
  await pool.end();
  process.exit(0);
});
