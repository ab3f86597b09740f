// B6 load process (pinned to the load core): memory per idle authenticated socket (RSS of
// the subject read from /proc before and after), connects/s, and a reconnect storm: every
// socket is killed at once while messages keep flowing, all reconnect and resume from
// their last seq; recovered = all re-subscribed and caught up. Prints one JSON line.
import { readFileSync } from "node:fs";
import { rssOf } from "../lib/chat-service.js";
import {
  inPool,
  openSocket,
  postMessage,
  sleep,
  subscribe,
  type Target,
  type Tracked,
  track,
  waitFor,
} from "../lib/realtime-client.js";

export type B6LoadConfig = {
  target: Target;
  pid: number;
  tokens: string[];
  publisherToken: string;
  rooms: string[];
  connections: number;
  connectConcurrency: number;
  /** Messages per second posted (round-robin over the rooms) around the storm. */
  publishRate: number;
};

const config = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as B6LoadConfig;
const { target, rooms } = config;
const perRoom = Math.ceil(config.connections / rooms.length);

const newTracked = (ws: Tracked["ws"], room: string): Tracked => ({
  ws,
  room,
  lastSeq: 0,
  received: 0,
  outOfOrder: 0,
  skipped: 0,
  reloads: 0,
  subscribed: false,
  hasCursor: false,
  subscribeErrors: 0,
});
const noop = () => {};

// Warm-up: JIT, pools, first-use allocations are not connection costs.
const warm: Tracked[] = [];
await inPool(
  Array.from({ length: 100 }, (_, i) => i),
  32,
  async (i) => {
    const t = newTracked(await openSocket(target, config.tokens[i % config.tokens.length]!), rooms[0]!);
    track(t, noop);
    subscribe(t);
    warm.push(t);
  },
);
await waitFor(() => warm.every((t) => t.subscribed), 10_000);
for (const t of warm) t.ws.close();
await sleep(2_000);
const rssBefore = rssOf(config.pid);

// ---- connect ----------------------------------------------------------------------
const sockets: Tracked[] = [];
let connectErrors = 0;
let firstConnectError: string | null = null;
const connectStart = performance.now();
await inPool(
  Array.from({ length: config.connections }, (_, i) => i),
  config.connectConcurrency,
  async (i) => {
    try {
      const ws = await openSocket(target, config.tokens[i % config.tokens.length]!);
      sockets.push(newTracked(ws, rooms[Math.floor(i / perRoom)]!));
    } catch (error) {
      connectErrors++;
      firstConnectError ??= (error as Error).message;
    }
  },
);
const connectSeconds = (performance.now() - connectStart) / 1_000;
const subscribeStart = performance.now();
for (const t of sockets) {
  track(t, noop);
  subscribe(t);
}
const subscribedAll = await waitFor(() => sockets.every((t) => t.subscribed), 60_000);
const subscribeSeconds = (performance.now() - subscribeStart) / 1_000;
await sleep(3_000);
const rssAfter = rssOf(config.pid);

// ---- reconnect storm -----------------------------------------------------------------
const roomSeq = new Map<string, number>();
let postErrors = 0;
let posted = 0;
let publishing = true;
const publisher = (async () => {
  const start = performance.now();
  for (let sent = 0; publishing; ) {
    while (publishing && start + (sent * 1_000) / config.publishRate <= performance.now()) {
      const room = rooms[sent++ % rooms.length]!;
      postMessage(target, config.publisherToken, room, `b6 ${sent}`).then(
        (seq) => {
          posted++;
          roomSeq.set(room, Math.max(roomSeq.get(room) ?? 0, seq));
        },
        () => postErrors++,
      );
    }
    await sleep(2);
  }
})();
await sleep(1_500);
const caughtUpTo = (targets: Map<string, number>) => () =>
  sockets.every((t) => t.subscribed && t.lastSeq >= (targets.get(t.room) ?? 0));
await waitFor(caughtUpTo(new Map(roomSeq)), 10_000);

const killSeq = new Map(roomSeq);
const stormStart = performance.now();
for (const t of sockets) t.ws.terminate();
let reconnectErrors = 0;
let reconnectAttempts = 0;
await inPool(sockets, config.connectConcurrency, async (t, i) => {
  // A refused or dropped reconnect retries, as a browser would, until it gets through.
  for (let attempt = 0; attempt < 20; attempt++) {
    reconnectAttempts++;
    try {
      t.ws = await openSocket(target, config.tokens[i % config.tokens.length]!);
      track(t, noop);
      subscribe(t, t.lastSeq);
      return;
    } catch {
      reconnectErrors++;
      await sleep(100 * (attempt + 1));
    }
  }
});
const recovered = await waitFor(caughtUpTo(killSeq), 60_000);
const recoverySeconds = (performance.now() - stormStart) / 1_000;
await sleep(1_000);
publishing = false;
await publisher;
await sleep(300);
const finalSeq = new Map(roomSeq);
const drained = await waitFor(caughtUpTo(finalSeq), 15_000);

let lost = 0;
let subscribeErrors = 0;
let duplicates = 0;
let reloads = 0;
for (const t of sockets) {
  lost += t.skipped + Math.max(0, (finalSeq.get(t.room) ?? 0) - t.lastSeq);
  duplicates += t.outOfOrder;
  reloads += t.reloads;
  subscribeErrors += t.subscribeErrors;
}
for (const t of sockets) t.ws.terminate();
console.log(
  JSON.stringify({
    connections: sockets.length,
    connectErrors,
    firstConnectError,
    connectsPerSecond: sockets.length / connectSeconds,
    subscribedAll,
    subscribesPerSecond: sockets.length / subscribeSeconds,
    rssBefore,
    rssAfter,
    bytesPerConnection: (rssAfter - rssBefore) / sockets.length,
    recovered,
    recoverySeconds,
    reconnectAttempts,
    reconnectErrors,
    drained,
    messagesPosted: posted,
    postErrors,
    lost,
    duplicates,
    reloads,
    subscribeErrors,
  }),
);
process.exit(0);
