import {
  type RealtimeClientFrame,
  type RealtimeServerFrame,
  realtimeCloseCodes,
  RealtimeServerFrame as ServerFrameSchema,
} from "@perseus/contracts";
import { reconnectDelay } from "../../api/backoff.js";

export type RealtimeState = "connecting" | "open" | "reconnecting" | "revoked" | "closed";

/** The part of the browser WebSocket this client uses (tests pass a fake). */
export type SocketLike = {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: { code: number }) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
};

export type RealtimeOptions = {
  /** A fresh single-use ticket and the socket path (`POST /api/chat/realtime/tickets`). */
  getTicket: () => Promise<{ ticket: string; url: string }>;
  openSocket: (url: string) => SocketLike;
  onFrame: (frame: RealtimeServerFrame) => void;
  onState: (state: RealtimeState) => void;
  /** The last seq held for a chatgroup: a (re)subscribe replays what came after it. */
  resumeFrom: (chatgroupId: string) => number | undefined;
  setTimer?: (callback: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  random?: () => number;
};

const OPEN = 1;
const PING_EVERY_MS = 25_000;
const PONG_WITHIN_MS = 10_000;
const MAX_BACKOFF_MS = 30_000;
// Closes after which reconnecting cannot help.
const FINAL_CODES = new Set<number>([
  realtimeCloseCodes.revoked,
  realtimeCloseCodes.policyViolation,
  realtimeCloseCodes.frameTooLarge,
]);

/**
 * One realtime socket for the console: subscribes the open chatgroups, reconnects with
 * jittered backoff and resubscribes each with `afterSeq` so the server replays the gap
 * (or answers `reload_required`); an unanswered ping counts as a dead connection.
 */
export function createRealtimeClient(options: RealtimeOptions) {
  const setTimer = options.setTimer ?? ((callback, ms) => setTimeout(callback, ms));
  const clearTimer =
    options.clearTimer ?? ((handle) => clearTimeout(handle as ReturnType<typeof setTimeout>));
  const random = options.random ?? Math.random;
  const subscriptions = new Set<string>();
  let socket: SocketLike | null = null;
  let failures = 0;
  let stopped = false;
  let retryTimer: unknown = null;
  let pingTimer: unknown = null;
  let pongTimer: unknown = null;

  function send(frame: RealtimeClientFrame): boolean {
    if (!socket || socket.readyState !== OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function subscribeFrame(chatgroupId: string): RealtimeClientFrame {
    const afterSeq = options.resumeFrom(chatgroupId);
    return afterSeq === undefined
      ? { type: "subscribe", chatgroupId }
      : { type: "subscribe", chatgroupId, afterSeq };
  }

  function clearTimers() {
    for (const handle of [pingTimer, pongTimer]) if (handle !== null) clearTimer(handle);
    pingTimer = null;
    pongTimer = null;
  }

  function schedulePing() {
    pingTimer = setTimer(() => {
      if (!send({ type: "ping" })) return;
      pongTimer = setTimer(() => socket?.close(4000, "no pong"), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  function scheduleReconnect() {
    if (stopped) return;
    options.onState("reconnecting");
    const delay = reconnectDelay(failures, MAX_BACKOFF_MS, random);
    failures += 1;
    retryTimer = setTimer(() => {
      retryTimer = null;
      void connect();
    }, delay);
  }

  async function connect() {
    if (stopped) return;
    options.onState(failures ? "reconnecting" : "connecting");
    let ticket: { ticket: string; url: string };
    try {
      ticket = await options.getTicket();
    } catch {
      scheduleReconnect();
      return;
    }
    if (stopped) return;
    const current = options.openSocket(`${ticket.url}?ticket=${encodeURIComponent(ticket.ticket)}`);
    socket = current;
    current.onopen = () => {
      failures = 0;
      options.onState("open");
      for (const chatgroupId of subscriptions) send(subscribeFrame(chatgroupId));
      schedulePing();
    };
    current.onmessage = (event) => {
      if (typeof event.data !== "string") return;
      let parsed: ReturnType<typeof ServerFrameSchema.safeParse>;
      try {
        parsed = ServerFrameSchema.safeParse(JSON.parse(event.data));
      } catch {
        return;
      }
      if (!parsed.success) return;
      if (parsed.data.type === "pong") {
        clearTimers();
        schedulePing();
        return;
      }
      options.onFrame(parsed.data);
    };
    current.onerror = () => {};
    current.onclose = (event) => {
      if (socket !== current) return;
      socket = null;
      clearTimers();
      if (stopped) return;
      if (FINAL_CODES.has(event.code)) {
        options.onState(event.code === realtimeCloseCodes.revoked ? "revoked" : "closed");
        return;
      }
      scheduleReconnect();
    };
  }

  return {
    start() {
      stopped = false;
      if (!socket && retryTimer === null) void connect();
    },
    subscribe(chatgroupId: string) {
      if (subscriptions.has(chatgroupId)) return;
      subscriptions.add(chatgroupId);
      send(subscribeFrame(chatgroupId));
    },
    /** Subscribes again from the current resume point (after a history reload). */
    resubscribe(chatgroupId: string) {
      if (subscriptions.has(chatgroupId)) send(subscribeFrame(chatgroupId));
    },
    unsubscribe(chatgroupId: string) {
      if (subscriptions.delete(chatgroupId)) send({ type: "unsubscribe", chatgroupId });
    },
    typing(chatgroupId: string) {
      send({ type: "typing", chatgroupId });
    },
    read(chatgroupId: string, seq: number) {
      return send({ type: "read", chatgroupId, seq });
    },
    stop() {
      stopped = true;
      if (retryTimer !== null) clearTimer(retryTimer);
      retryTimer = null;
      clearTimers();
      socket?.close(realtimeCloseCodes.normal, "bye");
      socket = null;
      options.onState("closed");
    },
  };
}

export type RealtimeClient = ReturnType<typeof createRealtimeClient>;
