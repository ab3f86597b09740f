import { type ChatFixture, createChatFixture, resetMessages } from "../lib/chat-fixtures.js";
import { benchDatabase } from "../lib/fixtures.js";
import { cores, runPinnedJson } from "../lib/processes.js";
import { formatNumber, printTable, type Summary, summarize } from "../lib/stats.js";
import { pgbenchScript, runPgbench } from "./pgbench.js";
import type { WorkerJob } from "./worker.js";

type WorkerResult = {
  rowsPerSecond: number;
  transactionsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
};

export type B5Options = { reps: number; durationSeconds: number; adminUrl: string };

const BODY = "benchmark message: the quick brown fox jumps over the lazy dog, then posts again";
const BATCH_SIZE = 100;
const cases = [
  { name: "single row, 1 in flight", mode: "single", inFlight: 1, batchSize: 1 },
  { name: "single row, 8 in flight", mode: "single", inFlight: 8, batchSize: 1 },
  { name: "single row, 32 in flight", mode: "single", inFlight: 32, batchSize: 1 },
  { name: "post() with group commit, 32 in flight", mode: "post", inFlight: 32, batchSize: 1 },
  { name: `batched ×${BATCH_SIZE}, 4 in flight`, mode: "batched", inFlight: 4, batchSize: BATCH_SIZE },
] as const;

/**
 * B5: message persistence through the real schema and the chat service's own code, against
 * pgbench sending the same statements. Each in-flight slot posts to a room of its own (the
 * seq counter of one room serialises its posts by design). The two clients run pinned to
 * the same core, alternately (subject, pgbench, subject, …), on freshly emptied tables.
 */
export async function run(options: B5Options) {
  const database = await benchDatabase(options.adminUrl, "perseus_bench_b5");
  const fixture: ChatFixture = await createChatFixture(database.appUrl, { rooms: 32, membersPerRoom: 1 });
  const samples: Record<string, { subject: number[]; baseline: number[]; p99: number[]; errors: number }> =
    {};
  for (const c of cases) samples[c.name] = { subject: [], baseline: [], p99: [], errors: 0 };

  for (let rep = 0; rep < options.reps; rep++) {
    for (const c of cases) {
      await resetMessages(database);
      const job: WorkerJob = {
        appUrl: database.appUrl,
        mode: c.mode,
        inFlight: c.inFlight,
        batchSize: c.batchSize,
        durationSeconds: options.durationSeconds,
        tenantId: fixture.tenantId,
        rooms: fixture.rooms.slice(0, c.inFlight),
        authors: fixture.members.slice(0, c.inFlight).map((room) => room[0]!),
        body: BODY,
      };
      // From source, like the tests and the B2 service: what runs is the code in the tree.
      const subject = await runPinnedJson<WorkerResult>(cores.load, [
        "--conditions=@perseus/source",
        "--import",
        "tsx",
        "b5-persistence/worker.ts",
        JSON.stringify(job),
      ]);
      await resetMessages(database);
      const baseline = await runPgbench({
        core: cores.load,
        appUrl: database.appUrl,
        script: pgbenchScript({ ...fixture, batchSize: c.batchSize, body: BODY }),
        clients: c.inFlight,
        durationSeconds: options.durationSeconds,
      });
      const baselineRows = baseline.transactionsPerSecond * c.batchSize;
      const entry = samples[c.name]!;
      entry.subject.push(subject.rowsPerSecond);
      entry.baseline.push(baselineRows);
      entry.p99.push(subject.p99);
      entry.errors += subject.errors + baseline.failed;
      console.log(
        `  rep ${rep + 1} ${c.name}: service ${formatNumber(subject.rowsPerSecond)} rows/s (p50 ${subject.p50} ms, p99 ${subject.p99} ms), pgbench ${formatNumber(baselineRows)} rows/s (avg ${baseline.latencyAverage} ms)`,
      );
    }
  }
  await resetMessages(database);

  const results: Record<
    string,
    { service: Summary; pgbench: Summary; ratio: number; p99: Summary; errors: number }
  > = {};
  const rows: string[][] = [];
  for (const c of cases) {
    const entry = samples[c.name]!;
    const service = summarize(entry.subject);
    const pgbench = summarize(entry.baseline);
    const p99 = summarize(entry.p99);
    const ratio = service.median / pgbench.median;
    results[c.name] = { service, pgbench, ratio, p99, errors: entry.errors };
    rows.push([
      c.name,
      `${formatNumber(service.median)} (${formatNumber(service.min)}–${formatNumber(service.max)})`,
      `${formatNumber(pgbench.median)} (${formatNumber(pgbench.min)}–${formatNumber(pgbench.max)})`,
      `${ratio.toFixed(2)}×`,
      `${formatNumber(p99.median, 1)} ms`,
      String(entry.errors),
    ]);
  }
  printTable(
    ["case", "service rows/s (range)", "pgbench rows/s (range)", "ratio", "service p99", "errors"],
    rows,
  );
  return results;
}
