import { createHash, randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import type { DispatchKeys } from "../../lib/keys.js";
import type { AttachGrant } from "./relay.js";

const TICKET_FORMAT = /^[A-Za-z0-9_-]{43}$/;
const hashOf = (ticket: string) => createHash("sha256").update(ticket).digest("base64url");

/**
 * Attach tickets: a browser cannot set headers on a WebSocket, so it trades its access
 * token for a random single-use ticket that lives a few seconds in Redis (only its hash
 * is stored) and goes in the URL.
 */
export function createTerminalTickets(options: { redis: Redis; keys: DispatchKeys; ttlSeconds: number }) {
  const { redis, keys, ttlSeconds } = options;
  return {
    async issue(grant: AttachGrant): Promise<{ ticket: string; expiresAt: Date }> {
      const ticket = randomBytes(32).toString("base64url");
      await redis.set(keys.terminalTicket(hashOf(ticket)), JSON.stringify(grant), "EX", ttlSeconds);
      return { ticket, expiresAt: new Date(Date.now() + ttlSeconds * 1000) };
    },
    /** Redeems a ticket exactly once (GETDEL); null when unknown, expired, used, or for another session. */
    async redeem(ticket: string, sessionId: string): Promise<AttachGrant | null> {
      if (!TICKET_FORMAT.test(ticket)) return null;
      const raw = await redis.getdel(keys.terminalTicket(hashOf(ticket)));
      if (!raw) return null;
      const grant = JSON.parse(raw) as AttachGrant;
      return grant.sessionId === sessionId ? grant : null;
    },
  };
}
export type TerminalTickets = ReturnType<typeof createTerminalTickets>;
