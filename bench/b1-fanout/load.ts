// B1 load process (pinned to the load core): opens the sockets, subscribes them to their
// rooms, then (1) saturation: a publisher keeps a bounded window of messages not yet
// received by the whole room, counting deliveries/s; (2) open-loop posting at fractions of
// that rate, measuring publish→receive from each message's scheduled send time (so a
// late publisher cannot hide queueing). Prints one JSON line.
import { readFileSync } from "node:fs";
import {
  inPool,
  openSocket,
  percentile,
  postMessage,
  sleep,
  subscribe,
  type Target,
  type Tracked,
  track,
  waitFor,
} from "../lib/realtime-client.js";

export type B1LoadConfig = {
  target: Target;
  tokens: string[];
  publisherToken: string;
  rooms: string[];
  roomSize: number;
  durationSeconds: number;
  fractions: number[];
  /** Deliveries the saturation publisher may have outstanding (bounds the server's backlog). */
  windowDeliveries: number;
  /** Posts the saturation publisher keeps in flight (like a handful of busy browsers). */
  postConcurrency: number;
};

const config = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as B1LoadConfig;
const { target, roomSize, rooms } = config;

type Pending = { scheduled: number; remaining: number };
const pending = new Map<number, Pending>();
let phase: { deliveries: number; latencies: number[] | null } = { deliveries: 0, latencies: null };
let wake: () => void = () => {};
let nextIndex = 0;
const postedPerRoom = new Map<string, number>();
let postErrors = 0;
let firstPostError: string | null = null;

function onMessage(_t: Tracked, seen: { body: string; at: number }) {
  phase.deliveries++;
  const entry = pending.get(Number(seen.body.slice(3)));
  if (!entry) return;
  phase.latencies?.push(seen.at - entry.scheduled);
  if (--entry.remaining === 0) {
    pending.delete(Number(seen.body.slice(3)));
    wake();
  }
}

// ---- connect and subscribe -----------------------------------------------------
const sockets: Tracked[] = [];
const connectStart = performance.now();
await inPool(
  Array.from({ length: rooms.length * roomSize }, (_, i) => i),
  64,
  async (i) => {
    let ws: Tracked["ws"] | undefined;
    // On a loaded machine a ticket can expire before its upgrade: retry like a browser.
    for (let attempt = 1; !ws; attempt++) {
      try {
        ws = await openSocket(target, config.tokens[i % config.tokens.length]!);
      } catch (error) {
        if (attempt >= 5) throw error;
        await sleep(200 * attempt);
      }
    }
    const tracked: Tracked = {
      ws,
      room: rooms[Math.floor(i / roomSize)]!,
      lastSeq: 0,
      received: 0,
      outOfOrder: 0,
      skipped: 0,
      reloads: 0,
      subscribed: false,
      hasCursor: false,
      subscribeErrors: 0,
    };
    track(tracked, onMessage);
    sockets.push(tracked);
    subscribe(tracked);
  },
);
if (!(await waitFor(() => sockets.every((s) => s.subscribed), 30_000)))
  throw new Error("subscribe timed out");
const connectSeconds = (performance.now() - connectStart) / 1_000;

let postsInFlight = 0;
function publish(scheduled: number): void {
  const index = nextIndex++;
  const room = rooms[index % rooms.length]!;
  pending.set(index, { scheduled, remaining: roomSize });
  postsInFlight++;
  postMessage(target, config.publisherToken, room, `b1 ${index}`).then(
    () => {
      postsInFlight--;
      postedPerRoom.set(room, (postedPerRoom.get(room) ?? 0) + 1);
      wake();
    },
    (error: Error) => {
      postsInFlight--;
      postErrors++;
      firstPostError ??= error.message;
      pending.delete(index);
      wake();
    },
  );
}

/** Waits until every posted message reached its whole room (or the timeout). */
const drain = () => waitFor(() => pending.size === 0, 10_000);

// ---- saturation ---------------------------------------------------------------------
const window = Math.min(512, Math.max(4, Math.ceil(config.windowDeliveries / roomSize)));
phase = { deliveries: 0, latencies: null };
let saturationStart = performance.now();
const warmEnd = saturationStart + 1_000;
let measuring = false;
const saturationEnd = warmEnd + config.durationSeconds * 1_000;
for (;;) {
  const now = performance.now();
  if (!measuring && now >= warmEnd) {
    // The first second warms the JIT and the pools; it is not counted.
    measuring = true;
    phase.deliveries = 0;
    saturationStart = now;
  }
  if (now >= saturationEnd) break;
  while (pending.size < window && postsInFlight < config.postConcurrency) publish(performance.now());
  await new Promise<void>((resolve) => {
    wake = resolve;
    setTimeout(resolve, 50);
  });
}
const saturationDeliveries = phase.deliveries;
const saturationSeconds = (performance.now() - saturationStart) / 1_000;
const deliveriesPerSecond = saturationDeliveries / saturationSeconds;
const saturationDrained = await drain();
wake = () => {};

// ---- open-loop latency at fractions of saturation ----------------------------------------
const latency: {
  fraction: number;
  messagesPerSecond: number;
  p50: number;
  p99: number;
  samples: number;
  drained: boolean;
}[] = [];
for (const fraction of config.fractions) {
  await sleep(500);
  const rate = Math.max(1, (fraction * deliveriesPerSecond) / roomSize);
  phase = { deliveries: 0, latencies: [] };
  const start = performance.now();
  const total = Math.max(1, Math.round(rate * config.durationSeconds));
  let sent = 0;
  while (sent < total) {
    const now = performance.now();
    // Everything due by now goes out, each stamped with its own scheduled time.
    while (sent < total && start + (sent * 1_000) / rate <= now) publish(start + (sent++ * 1_000) / rate);
    await sleep(1);
  }
  const drained = await drain();
  const values = phase.latencies ?? [];
  latency.push({
    fraction,
    messagesPerSecond: rate,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    samples: values.length,
    drained,
  });
}

// ---- loss, duplicates, order ------------------------------------------------------------
await sleep(200);
let lost = 0;
let outOfOrder = 0;
let reloads = 0;
for (const s of sockets) {
  const expected = postedPerRoom.get(s.room) ?? 0;
  lost += Math.max(0, expected - (s.received - s.outOfOrder));
  outOfOrder += s.outOfOrder;
  reloads += s.reloads;
}
for (const s of sockets) s.ws.terminate();
console.log(
  JSON.stringify({
    sockets: sockets.length,
    connectSeconds,
    window,
    deliveriesPerSecond,
    saturationDrained,
    latency,
    posted: nextIndex,
    postErrors,
    firstPostError,
    lost,
    outOfOrder,
    reloads,
  }),
);
process.exit(0);
