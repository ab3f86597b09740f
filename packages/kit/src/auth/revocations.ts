import type { RevocationKind } from "@perseus/contracts";
import type { Redis } from "ioredis";

const hashKey = (prefix: string) => `${prefix}:{auth}:revocations`;
const channel = (prefix: string) => `${prefix}:auth:revocations`;

export type Revocations = {
  /** The instant before which tokens of this principal are refused, if any. */
  notBefore(kind: RevocationKind, id: string): number | undefined;
  /** Registers a callback for revocations (open sockets use it to close at once). */
  onRevoked(listener: (kind: RevocationKind, id: string) => void): () => void;
  close(): Promise<void>;
};

/**
 * Publishes a revocation: durable in a Redis hash (read at every start) and pushed over
 * pub/sub so every replica applies it within milliseconds. The database keeps the
 * authoritative record (revoked_at, tokens_not_before); this is the fast path.
 */
export async function publishRevocation(
  redis: Redis,
  prefix: string,
  kind: RevocationKind,
  id: string,
  atMs = Date.now(),
) {
  const field = `${kind}:${id}`;
  await redis.hset(hashKey(prefix), field, String(atMs));
  await redis.publish(channel(prefix), `${field}:${atMs}`);
}

/**
 * An in-memory mirror of the revocation hash, kept current by pub/sub and reloaded in
 * full on every (re)subscription, so a missed message cannot leave a revoked token valid
 * for longer than a reconnect.
 */
export async function createRevocations(redis: Redis, prefix: string): Promise<Revocations> {
  const entries = new Map<string, number>();
  const listeners = new Set<(kind: RevocationKind, id: string) => void>();
  const subscriber = redis.duplicate({ lazyConnect: true, maxRetriesPerRequest: null });

  const reload = async () => {
    const all = await redis.hgetall(hashKey(prefix));
    for (const [field, value] of Object.entries(all)) entries.set(field, Number(value));
  };
  const apply = (message: string) => {
    const last = message.lastIndexOf(":");
    const field = message.slice(0, last);
    const at = Number(message.slice(last + 1));
    if (!field || !Number.isFinite(at)) return;
    entries.set(field, Math.max(at, entries.get(field) ?? 0));
    const split = field.indexOf(":");
    const kind = field.slice(0, split) as RevocationKind;
    const id = field.slice(split + 1);
    for (const listener of listeners) listener(kind, id);
  };

  subscriber.on("message", (_channel: string, message: string) => apply(message));
  subscriber.on("ready", () => {
    void reload().catch(() => {});
  });
  subscriber.on("error", () => {});
  await subscriber.connect();
  await subscriber.subscribe(channel(prefix));
  await reload();

  return {
    notBefore: (kind, id) => entries.get(`${kind}:${id}`),
    onRevoked: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close: async () => {
      listeners.clear();
      subscriber.disconnect();
    },
  };
}

/** A fixed, in-process revocation list for tests and tools that run without Redis. */
export function staticRevocations(): Revocations & {
  revoke(kind: RevocationKind, id: string, atMs?: number): void;
} {
  const entries = new Map<string, number>();
  const listeners = new Set<(kind: RevocationKind, id: string) => void>();
  return {
    notBefore: (kind, id) => entries.get(`${kind}:${id}`),
    onRevoked: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    revoke: (kind, id, atMs = Date.now()) => {
      entries.set(`${kind}:${id}`, atMs);
      for (const listener of listeners) listener(kind, id);
    },
    close: async () => {},
  };
}
