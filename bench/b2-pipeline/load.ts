// B2 load generator (its own pinned process): opens one socket per room member, then posts
// messages at fixed arrival rates (open loop, round-robin over the rooms, each by its room's
// poster) and times every message from its scheduled send to its HTTP ack and to its arrival
// at each member. Reads its job from the JSON file named in argv[2]; prints one JSON line.
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import WebSocket from "ws";
import { percentile } from "../lib/latency.js";

export type LoadJob = {
  kind: "chat" | "bare";
  /** host:port of the subject. */
  address: string;
  origin: string;
  rooms: { chatgroupId: string; posterId: string; members: { userId: string; token: string }[] }[];
  steps: number[];
  durationSeconds: number;
};

export type StepResult = {
  offered: number;
  sent: number;
  acked: number;
  failed: number;
  /** Failed posts by status and message (or client error). */
  failures: Record<string, number>;
  ackedPerSecond: number;
  ackP50: number;
  ackP99: number;
  expectedDeliveries: number;
  delivered: number;
  deliveryP50: number;
  deliveryP99: number;
  /** Not run: an earlier step was already saturated. */
  skipped: boolean;
};

const emptyStep: StepResult = {
  offered: 0,
  sent: 0,
  acked: 0,
  failed: 0,
  failures: {},
  ackedPerSecond: 0,
  ackP50: 0,
  ackP99: 0,
  expectedDeliveries: 0,
  delivered: 0,
  deliveryP50: 0,
  deliveryP99: 0,
  skipped: true,
};

const job = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as LoadJob;
const agent = new Agent({ keepAlive: true, maxSockets: 512 });
const prefix = job.kind === "chat" ? "/api/chat" : "";

function httpJson(method: string, path: string, token: string | null, payload?: unknown) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const data = payload === undefined ? undefined : JSON.stringify(payload);
    const req = request(
      {
        agent,
        host: job.address.split(":")[0],
        port: Number(job.address.split(":")[1]),
        method,
        path,
        timeout: 30_000,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(data ? { "content-type": "application/json", "content-length": Buffer.byteLength(data) } : {}),
        },
      },
      (response) => {
        let body = "";
        response.on("data", (chunk: Buffer) => {
          body += chunk.toString();
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(data);
  });
}

// Message number → scheduled send time (ms) and step; deliveries are matched by the number in the body.
const scheduled: number[] = [];
const stepOf: number[] = [];
const deliveredPerStep: number[] = [];
const deliveryLatencies: number[][] = [];

function onFrame(data: WebSocket.RawData) {
  const frame = JSON.parse(data.toString()) as { type: string; message?: { body?: string } };
  if (frame.type !== "message") return;
  const match = /^b2 (\d+)/.exec(frame.message?.body ?? "");
  if (!match) return;
  const n = Number(match[1]);
  const sentAt = scheduled[n];
  const step = stepOf[n];
  if (sentAt === undefined || step === undefined) return;
  deliveredPerStep[step] = (deliveredPerStep[step] ?? 0) + 1;
  deliveryLatencies[step]!.push(performance.now() - sentAt);
}

async function openSocket(chatgroupId: string, token: string): Promise<WebSocket> {
  let url = `ws://${job.address}/realtime?room=${chatgroupId}`;
  if (job.kind === "chat") {
    const ticket = await httpJson("POST", `${prefix}/realtime/tickets`, token);
    if (ticket.status !== 201) throw new Error(`ticket: ${ticket.status} ${ticket.body}`);
    url = `ws://${job.address}${prefix}/realtime?ticket=${encodeURIComponent(JSON.parse(ticket.body).ticket)}`;
  }
  const ws = new WebSocket(url, { origin: job.origin });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  if (job.kind === "chat") {
    const subscribed = new Promise<void>((resolve) => {
      const listener = (data: WebSocket.RawData) => {
        if ((JSON.parse(data.toString()) as { type: string }).type === "subscribed") {
          ws.off("message", listener);
          resolve();
        }
      };
      ws.on("message", listener);
    });
    ws.send(JSON.stringify({ type: "subscribe", chatgroupId }));
    await subscribed;
  }
  ws.on("message", onFrame);
  return ws;
}

const sockets: WebSocket[] = [];
const members = job.rooms.flatMap((room) => room.members.map((m) => ({ room: room.chatgroupId, ...m })));
for (let i = 0; i < members.length; i += 25) {
  sockets.push(...(await Promise.all(members.slice(i, i + 25).map((m) => openSocket(m.room, m.token)))));
}
const posterToken = new Map(
  job.rooms.map((room) => [room.chatgroupId, room.members.find((m) => m.userId === room.posterId)!.token]),
);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function runStep(step: number, rate: number): Promise<StepResult> {
  const ackLatencies: number[] = [];
  const failures: Record<string, number> = {};
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let outstanding = 0;
  const firstNumber = scheduled.length;
  deliveredPerStep[step] = 0;
  deliveryLatencies[step] = [];
  const total = Math.round(rate * job.durationSeconds);
  const start = performance.now();
  const fail = (reason: string) => {
    failed++;
    failures[reason] = (failures[reason] ?? 0) + 1;
  };
  const post = (n: number) => {
    const room = job.rooms[n % job.rooms.length]!;
    const at = start + ((n - firstNumber) * 1000) / rate;
    scheduled[n] = at;
    stepOf[n] = step;
    outstanding++;
    const payload = job.kind === "chat" ? { body: `b2 ${n}` } : { body: `b2 ${n}`, authorId: room.posterId };
    const token = job.kind === "chat" ? posterToken.get(room.chatgroupId)! : null;
    const path = `${prefix}/${job.kind === "chat" ? "chatgroups" : "rooms"}/${room.chatgroupId}/messages`;
    httpJson("POST", path, token, payload)
      .then((response) => {
        if (response.status !== 201) return fail(`${response.status} ${response.body.slice(0, 120)}`);
        acked++;
        ackLatencies.push(performance.now() - at);
      })
      .catch((error: Error) => fail(error.message))
      .finally(() => outstanding--);
  };
  // Open loop: every tick sends whatever the schedule says is due, however the subject is doing.
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      while (sent < due) post(firstNumber + sent++);
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  const sendSeconds = (performance.now() - start) / 1000;
  const drainUntil = performance.now() + 20_000;
  while (outstanding > 0 && performance.now() < drainUntil) await sleep(20);
  const ackedSeconds = (performance.now() - start) / 1000;
  const expectedDeliveries = acked * (members.length / job.rooms.length);
  const deliverUntil = performance.now() + 5_000;
  while (deliveredPerStep[step]! < expectedDeliveries && performance.now() < deliverUntil) await sleep(20);
  return {
    offered: rate,
    sent,
    acked,
    failed,
    failures,
    // Acks over the time they took to arrive: below the offered rate once the subject falls behind.
    ackedPerSecond: acked / Math.max(ackedSeconds, sendSeconds),
    ackP50: percentile(ackLatencies, 50),
    ackP99: percentile(ackLatencies, 99),
    expectedDeliveries,
    delivered: deliveredPerStep[step]!,
    deliveryP50: percentile(deliveryLatencies[step]!, 50),
    deliveryP99: percentile(deliveryLatencies[step]!, 99),
    skipped: false,
  };
}

const results: StepResult[] = [];
await runStep(0, Math.min(100, job.steps[0] ?? 100)); // warm-up: JIT, pools, token cache
let isSaturated = false;
for (const [index, rate] of job.steps.entries()) {
  // Past a step where acks fell below half the arrivals, higher rates only pile up a backlog.
  if (isSaturated) {
    results.push({ ...emptyStep, offered: rate, skipped: true });
    continue;
  }
  const result = await runStep(index + 1, rate);
  results.push(result);
  isSaturated = result.ackedPerSecond < 0.5 * rate;
  await sleep(500);
}
for (const ws of sockets) ws.terminate();
agent.destroy();
console.log(JSON.stringify({ steps: results }));
