// B5 subject: stores messages through the chat service's own persistence code with N
// transactions in flight, one room per slot. `single`: withTenant, the chatgroup access
// check, storeMessage (seq counter, message row, outbox row), one message per transaction.
// `post`: the service's post(), whose group commit coalesces concurrent posts. `batched`:
// `batchSize` messages per transaction through storeMessages. Prints one JSON line.
import { createDb, createPool, withTenant } from "@perseus/db";
import { requireChatgroup } from "../../apps/chat/src/lib/access.js";
import { createMessagesService } from "../../apps/chat/src/modules/messages/messages.service.js";
import { storeMessage, storeMessages } from "../../apps/chat/src/modules/messages/messages.store.js";
import { percentile } from "../lib/latency.js";

export type WorkerJob = {
  appUrl: string;
  mode: "single" | "post" | "batched";
  inFlight: number;
  batchSize: number;
  durationSeconds: number;
  tenantId: string;
  rooms: string[];
  /** The poster of each room. */
  authors: string[];
  body: string;
};

const job = JSON.parse(process.argv[2] ?? "{}") as WorkerJob;
const pool = createPool({ url: job.appUrl, max: job.inFlight, applicationName: "perseus-bench-b5" });
const db = createDb(pool);
const service = createMessagesService({ db, maxMessageBytes: 32_768 });

const contextOf = (slot: number) => {
  const userId = job.authors[slot]!;
  return {
    tenantId: job.tenantId,
    actor: { type: "user" as const, userId, tenantId: job.tenantId, role: "user" as const },
  };
};

/** One transaction of the chosen kind; returns how many rows it committed. */
async function once(slot: number): Promise<number> {
  const ctx = contextOf(slot);
  const chatgroupId = job.rooms[slot]!;
  if (job.mode === "post") {
    await service.post(ctx, chatgroupId, { body: job.body, attachments: [] });
    return 1;
  }
  return withTenant(db, ctx, async (tx) => {
    const chatgroup = await requireChatgroup(tx, ctx.actor, chatgroupId, { forWriting: true });
    const author = { authorType: "user" as const, authorId: ctx.actor.userId, body: job.body };
    if (job.mode === "single") {
      await storeMessage(tx, { tenantId: job.tenantId, chatgroup, ...author });
      return 1;
    }
    const inputs = Array.from({ length: job.batchSize }, () => ({
      tenantId: job.tenantId,
      chatgroup,
      ...author,
    }));
    return (await storeMessages(tx, inputs)).length;
  });
}

// Warm-up (JIT, pool connections), not counted.
await Promise.all(Array.from({ length: job.inFlight }, (_, slot) => once(slot)));

const latencies: number[] = [];
let rows = 0;
let errors = 0;
const started = performance.now();
const deadline = started + job.durationSeconds * 1000;
await Promise.all(
  Array.from({ length: job.inFlight }, async (_, slot) => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        const stored = await once(slot);
        rows += stored;
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
await pool.end();
console.log(
  JSON.stringify({
    rowsPerSecond: rows / elapsed,
    transactionsPerSecond: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors,
  }),
);
