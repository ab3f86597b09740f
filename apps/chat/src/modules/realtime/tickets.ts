import { createHash, randomBytes } from "node:crypto";
import type { Redis } from "ioredis";

/** Who a ticket was issued to: copied from the verified access token at issue time. */
export type RealtimeSession = {
  userId: string;
  tenantId: string;
  role: "owner" | "admin" | "user";
  sessionId: string | null;
  /** When the ticket was issued (ms): a revocation after it refuses the ticket. */
  issuedAtMs: number;
};

const TICKET_FORMAT = /^[A-Za-z0-9_-]{43}$/;

// Only a hash of the ticket is stored, so a Redis dump holds nothing usable.
const ticketKey = (prefix: string, ticket: string) =>
  `${prefix}:chat:ticket:${createHash("sha256").update(ticket).digest("base64url")}`;

/**
 * Realtime tickets: a browser cannot set headers on a WebSocket, so it trades its access
 * token for a random single-use ticket that lives a few seconds in Redis and goes in the URL.
 */
export function createTicketStore(options: { redis: Redis; prefix: string; ttlSeconds: number }) {
  const { redis, prefix, ttlSeconds } = options;
  return {
    async issue(session: Omit<RealtimeSession, "issuedAtMs">): Promise<{ ticket: string; expiresAt: Date }> {
      const ticket = randomBytes(32).toString("base64url");
      const value: RealtimeSession = { ...session, issuedAtMs: Date.now() };
      await redis.set(ticketKey(prefix, ticket), JSON.stringify(value), "EX", ttlSeconds);
      return { ticket, expiresAt: new Date(Date.now() + ttlSeconds * 1000) };
    },
    /** Redeems a ticket exactly once (GETDEL is atomic); null when unknown, expired or already used. */
    async redeem(ticket: string): Promise<RealtimeSession | null> {
      if (!TICKET_FORMAT.test(ticket)) return null;
      const raw = await redis.getdel(ticketKey(prefix, ticket));
      if (!raw) return null;
      return JSON.parse(raw) as RealtimeSession;
    },
  };
}
export type TicketStore = ReturnType<typeof createTicketStore>;

/** Browsers always send Origin on a WebSocket handshake; only our own console's origins may connect. */
export function createOriginCheck(allowed: readonly string[]) {
  const origins = new Set(allowed.map((origin) => new URL(origin).origin));
  // Exact match against the serialised origins: no prefix, suffix or case games.
  return (origin: string | undefined): boolean => origin !== undefined && origins.has(origin);
}
