import type { WebSocket } from "ws";
import type { RealtimeSession } from "./tickets.js";

/**
 * Something to deliver in seq order: a new message, or a change to one the client already
 * has. `frame` is UTF-8 JSON encoded once and shared by every socket it goes to.
 */
export type Item = { kind: "message" | "change"; seq: number; frame: Buffer };

export type Connection = {
  readonly id: number;
  readonly socket: WebSocket;
  readonly session: RealtimeSession;
  readonly subs: Map<string, Subscription>;
  isOpen: boolean;
  isAlive: boolean;
  /** Since when (ms) the socket's send buffer has been over the limit; 0 when it is not. */
  overLimitSince: number;
  // Per-socket frame rate window and abuse counters (see connection.ts).
  windowStart: number;
  framesInWindow: number;
  strikes: number;
};

export type Subscription = {
  readonly conn: Connection;
  readonly chatgroupId: string;
  readonly roomKey: string;
  /** The last seq this socket has been sent for the chatgroup: the exactly-once cursor. */
  lastSeq: number;
  /** Non-null while catching up from Postgres: live items wait here, in arrival order. */
  queue: Item[] | null;
  /** Set when the stream lost entries during a catch-up: read the last seq again afterwards. */
  needsResync: boolean;
  isActive: boolean;
  /** Access confirmed (and counted in presence); until then nothing is sent for it. */
  isPresent: boolean;
  /**
   * Unordered frames (task status and progress, typing, presence) that arrived before access
   * was confirmed: sent after the task snapshot once it is, dropped if it is refused.
   */
  held: Buffer[] | null;
  /** A membership re-check ran while access was still being confirmed: re-check once confirmed. */
  isRecheckPending: boolean;
  lastTypingAt: number;
};
