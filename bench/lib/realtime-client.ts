// Client side of the chat room protocol for load processes: tickets, sockets, subscribe,
// posting, and per-socket bookkeeping of seqs (loss, duplicates, order).
import { Agent, request } from "node:http";
import { WebSocket } from "ws";

export type Target = { mode: "chat" | "bare"; httpUrl: string; wsUrl: string; origin: string };

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/** A JSON request over a keep-alive pool; resolves with status and parsed body. */
export function httpJson(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers: {
          ...headers,
          ...(payload
            ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }
            : {}),
        },
      },
      (res) => {
        let raw = "";
        res.on("data", (chunk: Buffer) => {
          raw += chunk.toString();
        });
        res.on("end", () => {
          try {
            resolve({
              status: res.statusCode ?? 0,
              body: raw ? (JSON.parse(raw) as Record<string, unknown>) : {},
            });
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** Posts a message (the real path: HTTP → Postgres → outbox → stream → hub); resolves to its seq. */
export async function postMessage(target: Target, token: string, chatgroupId: string, body: string) {
  const response = await httpJson(
    `${target.httpUrl}/api/chat/chatgroups/${chatgroupId}/messages`,
    "POST",
    { authorization: `Bearer ${token}` },
    { body },
  );
  if (response.status !== 201) throw new Error(`post: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.seq as number;
}

/** Opens one authenticated socket: a single-use ticket for the chat service, none for the bare relay. */
export async function openSocket(target: Target, token: string): Promise<WebSocket> {
  let url = target.wsUrl;
  if (target.mode === "chat") {
    const response = await httpJson(`${target.httpUrl}/api/chat/realtime/tickets`, "POST", {
      authorization: `Bearer ${token}`,
    });
    if (response.status !== 201)
      throw new Error(`ticket: ${response.status} ${JSON.stringify(response.body)}`);
    url += `?ticket=${encodeURIComponent(response.body.ticket as string)}`;
  }
  const ws = new WebSocket(url, { origin: target.origin, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

/** What one socket saw of its room. */
export type Tracked = {
  ws: WebSocket;
  room: string;
  /** The last seq received in order: the resume cursor. */
  lastSeq: number;
  received: number;
  /** Seqs at or below the cursor (a duplicate or a reordering). */
  outOfOrder: number;
  /** Seqs that skipped ahead of the cursor: the ones in between never came. */
  skipped: number;
  reloads: number;
  subscribed: boolean;
  /** False until the first `subscribed` frame set the cursor (live from there). */
  hasCursor: boolean;
  /** Subscribes the server refused with an error frame (retried, as a browser would). */
  subscribeErrors: number;
};

export type MessageSeen = { seq: number; body: string; at: number };

// Message frames are {"type":"message","chatgroupId":…,"message":{"id":…,"chatgroupId":…,"seq":N,…,"body":"…"}}:
// the first "seq" is the message's, and bench bodies contain no quotes or escapes.
const MESSAGE_PREFIX = '{"type":"message"';
const readSeq = (text: string) => {
  const start = text.indexOf('"seq":') + 6;
  return Number.parseInt(text.slice(start, text.indexOf(",", start)), 10);
};
const readBody = (text: string) => {
  const start = text.indexOf('"body":"') + 8;
  return text.slice(start, text.indexOf('"', start));
};

/**
 * Wires a socket to its bookkeeping. `onMessage` sees every in-order or not message frame;
 * `onSubscribed` fires once the server confirmed the subscription.
 */
export function track(
  tracked: Tracked,
  onMessage: (t: Tracked, seen: MessageSeen) => void,
  onSubscribed: (t: Tracked) => void = () => {},
) {
  tracked.ws.on("message", (data: Buffer) => {
    const at = performance.now();
    const text = data.toString();
    if (text.startsWith(MESSAGE_PREFIX)) {
      // The load core is the scarcest resource: message frames are read without JSON.parse.
      const seq = readSeq(text);
      tracked.received++;
      if (seq <= tracked.lastSeq) tracked.outOfOrder++;
      else {
        if (seq > tracked.lastSeq + 1) tracked.skipped += seq - tracked.lastSeq - 1;
        tracked.lastSeq = seq;
      }
      onMessage(tracked, { seq, body: readBody(text), at });
      return;
    }
    const frame = JSON.parse(text) as { type: string; lastSeq?: number };
    if (frame.type === "subscribed") {
      if (!tracked.hasCursor) tracked.lastSeq = frame.lastSeq ?? 0;
      tracked.hasCursor = true;
      tracked.subscribed = true;
      onSubscribed(tracked);
    } else if (frame.type === "error" && !tracked.subscribed && tracked.ws.readyState === WebSocket.OPEN) {
      tracked.subscribeErrors++;
      setTimeout(() => subscribe(tracked, tracked.hasCursor ? tracked.lastSeq : undefined), 250);
    } else if (frame.type === "reload_required") {
      tracked.reloads++;
      tracked.lastSeq = frame.lastSeq ?? tracked.lastSeq;
    }
  });
  tracked.ws.on("error", () => {});
}

export function subscribe(tracked: Tracked, afterSeq?: number) {
  tracked.subscribed = false;
  // A resume sets the cursor itself: what the server replays after it is counted, not skipped.
  if (afterSeq !== undefined) tracked.hasCursor = true;
  tracked.ws.send(
    JSON.stringify({
      type: "subscribe",
      chatgroupId: tracked.room,
      ...(afterSeq === undefined ? {} : { afterSeq }),
    }),
  );
}

/** Runs `task` over `items` with at most `concurrency` in flight. */
export async function inPool<T>(
  items: T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<void>,
) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `done()` holds or `timeoutMs` passes; resolves to whether it held. */
export async function waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

/** Percentile (0–100) of unsorted values; NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
