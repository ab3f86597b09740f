// The bare baseline of B1 and B6: a plain `ws` server speaking the chat room protocol
// (subscribe with an optional afterSeq, message frames with a per-room seq) and taking
// posts over HTTP on the chat's path. No auth, no persistence, no stream: just the relay.
// Prints `READY {"port"}`.
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { type WebSocket, WebSocketServer } from "ws";

type Room = { seq: number; sockets: Set<WebSocket>; history: Buffer[] };
// The real hub replays up to 500 missed messages on resume; keep as many here.
const REPLAY_LIMIT = 500;
const rooms = new Map<string, Room>();
const roomOf = (id: string) => {
  let room = rooms.get(id);
  if (!room) {
    room = { seq: 0, sockets: new Set(), history: [] };
    rooms.set(id, room);
  }
  return room;
};

const POST_PATH = /^\/api\/chat\/chatgroups\/([0-9a-f-]{36})\/messages$/;

const server = createServer((req, res) => {
  const match = req.method === "POST" ? POST_PATH.exec(req.url ?? "") : null;
  if (!match) {
    res.writeHead(404).end();
    return;
  }
  let raw = "";
  req.on("data", (chunk: Buffer) => {
    raw += chunk.toString();
  });
  req.on("end", () => {
    const chatgroupId = match[1]!;
    const room = roomOf(chatgroupId);
    const seq = ++room.seq;
    const message = {
      id: randomUUID(),
      chatgroupId,
      seq,
      authorType: "user",
      authorId: null,
      body: (JSON.parse(raw) as { body: string }).body,
      threadRootId: null,
      mentions: { users: [], robots: [] },
      attachments: [],
      taskId: null,
      reactions: [],
      editedAt: null,
      deletedAt: null,
      createdAt: new Date().toISOString(),
    };
    // Serialised once, the same buffer to every socket: what the real hub does too.
    const frame = Buffer.from(JSON.stringify({ type: "message", chatgroupId, message }));
    room.history.push(frame);
    if (room.history.length > REPLAY_LIMIT) room.history.shift();
    for (const socket of room.sockets) socket.send(frame, { binary: false });
    res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify(message));
  });
});

const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 16_384 });
wss.on("connection", (socket) => {
  const mine = new Set<Room>();
  socket.on("message", (data) => {
    const frame = JSON.parse(data.toString()) as { type: string; chatgroupId: string; afterSeq?: number };
    if (frame.type !== "subscribe") return;
    const room = roomOf(frame.chatgroupId);
    room.sockets.add(socket);
    mine.add(room);
    socket.send(JSON.stringify({ type: "subscribed", chatgroupId: frame.chatgroupId, lastSeq: room.seq }));
    if (frame.afterSeq === undefined) return;
    const first = room.seq - room.history.length + 1;
    for (let seq = frame.afterSeq + 1; seq <= room.seq; seq++) {
      if (seq >= first) socket.send(room.history[seq - first]!, { binary: false });
    }
  });
  socket.on("close", () => {
    for (const room of mine) room.sockets.delete(socket);
  });
  socket.on("error", () => {});
});

server.listen(0, "127.0.0.1", () => {
  console.log(`READY ${JSON.stringify({ port: String((server.address() as { port: number }).port) })}`);
});
process.on("SIGTERM", () => {
  for (const client of wss.clients) client.terminate();
  server.close(() => process.exit(0));
});
