import { type Db, withTenant } from "@perseus/db";
import type { FastifyBaseLogger } from "fastify";
import { readRange } from "../history/history.repo.js";
import { getLastSeq, withReactions } from "../messages/messages.repo.js";
import { frame, messageFrame } from "./frames.js";
import type { Connection, Item, Subscription } from "./types.js";

export type DeliveryOptions = {
  db: Db;
  log: FastifyBaseLogger;
  replayLimit: number;
  send: (conn: Connection, data: string | Buffer) => void;
  close: (conn: Connection, code: number, reason: string) => void;
};

/**
 * The delivery rule that makes the hub exactly-once and in order per socket. Each
 * subscription remembers the last seq it was sent: a live message at or below it is a
 * duplicate and dropped, the next one is sent, one further ahead first fills the gap from
 * Postgres while later live items wait in the subscription's queue.
 */
export function createDelivery(options: DeliveryOptions) {
  const { db, log, replayLimit, send, close } = options;
  const inflight = new Map<string, Promise<Item[]>>();

  // ---- reading Postgres ---------------------------------------------------------

  const readLastSeq = (tenantId: string, chatgroupId: string) =>
    withTenant(db, { tenantId }, (tx) => getLastSeq(tx, chatgroupId));

  /**
   * Messages (after, upto] as ready-to-send items. Every seq in the range is committed
   * already, so concurrent identical requests (a room of sockets filling the same gap, a
   * reconnect storm resuming from the same seq) share one query.
   */
  function fetchRange(tenantId: string, chatgroupId: string, after: number, upto: number): Promise<Item[]> {
    const key = `${tenantId}:${chatgroupId}:${after}:${upto}`;
    let pending = inflight.get(key);
    if (!pending) {
      pending = withTenant(db, { tenantId }, async (tx) => {
        const messages = await withReactions(tx, await readRange(tx, chatgroupId, after, upto));
        return messages.map(
          (message): Item => ({
            kind: "message",
            seq: message.seq,
            frame: Buffer.from(messageFrame(message)),
          }),
        );
      }).finally(() => inflight.delete(key));
      inflight.set(key, pending);
    }
    return pending;
  }

  // ---- delivery -----------------------------------------------------------------

  function offer(sub: Subscription, item: Item) {
    if (!sub.isActive) return;
    if (sub.queue) {
      sub.queue.push(item);
      return;
    }
    if (item.kind === "change") {
      // A change to a message the client has not been sent yet arrives with the message itself.
      if (item.seq <= sub.lastSeq) send(sub.conn, item.frame);
      return;
    }
    if (item.seq <= sub.lastSeq) return;
    if (item.seq === sub.lastSeq + 1) {
      sub.lastSeq = item.seq;
      send(sub.conn, item.frame);
      return;
    }
    void catchUp(sub, item.seq - 1, [item]);
  }

  function reloadRequired(sub: Subscription, lastSeq: number) {
    sub.lastSeq = lastSeq;
    send(sub.conn, frame({ type: "reload_required", chatgroupId: sub.chatgroupId, lastSeq }));
  }

  /** Sends everything in (sub.lastSeq, target] from Postgres, or `reload_required` when that is too much. */
  async function deliverRange(sub: Subscription, target: number) {
    if (target <= sub.lastSeq) return;
    if (target - sub.lastSeq > replayLimit) return reloadRequired(sub, target);
    const items = await fetchRange(sub.conn.session.tenantId, sub.chatgroupId, sub.lastSeq, target);
    if (!sub.isActive) return;
    for (const item of items) {
      if (item.seq <= sub.lastSeq) continue;
      if (item.seq !== sub.lastSeq + 1) break;
      sub.lastSeq = item.seq;
      send(sub.conn, item.frame);
    }
    // Seqs are gap-free in Postgres, so this means rows vanished: never leave a silent hole.
    if (sub.lastSeq < target) reloadRequired(sub, target);
  }

  /** Releases live items queued during a catch-up, through the normal rule. */
  function drain(sub: Subscription) {
    const queued = sub.queue;
    sub.queue = null;
    if (!queued || !sub.isActive) return;
    for (let i = 0; i < queued.length; i++) {
      // A new gap started another catch-up: the rest waits behind it, still in order.
      if (sub.queue) {
        (sub.queue as Item[]).push(...queued.slice(i));
        return;
      }
      offer(sub, queued[i] as Item);
    }
  }

  /** Catches up to `upto` (or to the chatgroup's current last seq) from Postgres, then releases the queue. */
  async function catchUp(sub: Subscription, upto: number | Promise<number> | null, queued: Item[]) {
    sub.queue = queued;
    const { tenantId } = sub.conn.session;
    try {
      let target = await (upto ?? readLastSeq(tenantId, sub.chatgroupId));
      while (sub.isActive) {
        await deliverRange(sub, target);
        if (!sub.needsResync) break;
        sub.needsResync = false;
        target = await readLastSeq(tenantId, sub.chatgroupId);
      }
    } catch (error) {
      // Without Postgres we cannot prove completeness: let the client resume later instead.
      log.warn({ err: (error as Error).message, chatgroupId: sub.chatgroupId }, "realtime catch-up failed");
      close(sub.conn, 1013, "temporarily unable to deliver: reconnect and resume");
      return;
    }
    drain(sub);
  }

  return { offer, catchUp, reloadRequired, readLastSeq };
}
export type Delivery = ReturnType<typeof createDelivery>;
