import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { schema, sql, withTenant } from "@perseus/db";
import { Redis } from "ioredis";
import {
  BENCH_ISSUER,
  benchDatabase,
  createBenchRobots,
  createBenchTenant,
  openDb,
  startSigner,
} from "../lib/fixtures.js";
import { cores, runPinnedJson, startPinned } from "../lib/processes.js";
import { deleteKeys } from "../lib/redis-keys.js";
import { startService } from "../lib/service.js";
import { formatNumber, printTable, type Summary, summarize } from "../lib/stats.js";
import type { DriverArgs, Phase } from "./driver.js";

const REDIS_URL = "redis://127.0.0.1:6379";
const RATES = [10, 100, 1_000];
const CONCURRENCY = 8;
const CUT_RATE = 20;

export type B3Options = { reps: number; durationSeconds: number; adminUrl: string; big?: boolean };
type PhaseResult = {
  runId: string;
  rate: number;
  sent: number;
  createErrors: number;
  offerP50: number | null;
  offerP99: number | null;
  acceptP50: number | null;
  acceptP99: number | null;
  createP99: number | null;
  acceptedPerSecond: number;
  completed: number;
  drainedAfterMs: number;
  cuts: number;
  reconnects: number;
  unfinished: number;
  duplicated: number;
};
type DriverResult = { robots: number; connectMs: number; phases: PhaseResult[] };
type BaselineResult = { received: number; duplicates: number; p50: number; p99: number };

/** One baseline measurement: the consumer pinned with the subject, the producer with the load. */
async function baseline(kind: "xadd" | "bullmq", rate: number, seconds: number): Promise<BaselineResult> {
  const key = `bench-b3-${kind}-${randomBytes(4).toString("hex")}`;
  const common = { kind, redisUrl: REDIS_URL, key, rate, seconds, expected: Math.round(rate * seconds) };
  const consumer = await startPinned(cores.subject, [
    "--import",
    "tsx",
    "b3-dispatch/baseline.ts",
    JSON.stringify({ ...common, role: "consumer" }),
  ]);
  const result = new Promise<BaselineResult>((resolve, reject) => {
    let out = "";
    consumer.process.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /RESULT (\{.*\})/.exec(out);
      if (match) resolve(JSON.parse(match[1]!) as BaselineResult);
    });
    consumer.process.once("exit", () => setTimeout(() => reject(new Error(`${kind} consumer exited`)), 100));
  });
  try {
    await runPinnedJson(cores.load, [
      "--import",
      "tsx",
      "b3-dispatch/baseline.ts",
      JSON.stringify({ ...common, role: "producer" }),
    ]);
    return await result;
  } finally {
    await consumer.stop();
  }
}

/** What Postgres says about a run's tasks: every one should be `succeeded` after one attempt. */
async function truth(db: ReturnType<typeof openDb>["db"], tenantId: string, runId: string) {
  const rows = await withTenant(db, { tenantId }, (tx) =>
    tx
      .select({
        status: schema.tasks.status,
        count: sql<number>`count(*)::int`,
        reLeased: sql<number>`count(*) filter (where ${schema.tasks.attempt} > 1)::int`,
      })
      .from(schema.tasks)
      .where(sql`${schema.tasks.prompt} like ${`b3 ${runId} %`}`)
      .groupBy(schema.tasks.status),
  );
  const byStatus = Object.fromEntries(rows.map((r) => [r.status, r.count]));
  return { byStatus, reLeased: rows.reduce((sum, r) => sum + r.reLeased, 0) };
}

/**
 * B3: task created through the dispatch API → offer on a robot's socket → accepted, at fixed
 * arrival rates with 100 (and with --big 1 000) connected robots, after the bare baselines at
 * the same rates in the same repetition; then a run with robot connections cut every half second.
 */
export async function run(options: B3Options) {
  // Connecting 1 000 robots took minutes on the shared two-core machine: only with --big.
  const robotCounts = options.big ? [100, 1_000] : [100];
  const { appUrl } = await benchDatabase(options.adminUrl);
  const signer = await startSigner();
  const pool = openDb(appUrl);
  const redis = new Redis(REDIS_URL);
  const seconds = options.durationSeconds;
  const series: Record<string, Record<string, number[]>> = {};
  const push = (name: string, field: string, value: number | null) => {
    const fields = series[name] ?? {};
    series[name] = fields;
    fields[field] = [...(fields[field] ?? []), value ?? Number.NaN];
  };
  const integrity: Record<string, unknown>[] = [];
  try {
    for (let rep = 0; rep < options.reps; rep++) {
      for (const rate of RATES) {
        for (const kind of ["xadd", "bullmq"] as const) {
          const b = await baseline(kind, rate, seconds);
          const name = `${kind === "xadd" ? "XADD→XREADGROUP" : "BullMQ add→process"} @${rate}/s`;
          push(name, "p50", b.p50);
          push(name, "p99", b.p99);
          push(name, "perSecond", b.received / seconds);
          console.log(`  rep ${rep + 1} ${name}: p50 ${fixed(b.p50, 2)} ms, p99 ${fixed(b.p99, 2)} ms`);
        }
      }
      const prefix = `bench-b3-${randomBytes(4).toString("hex")}`;
      const dispatch = await startService("dispatch", cores.subject, {
        DATABASE_URL: appUrl,
        REDIS_URL,
        REDIS_PREFIX: prefix,
        AUTH_JWKS_URL: signer.jwksUrl,
        AUTH_ISSUER: BENCH_ISSUER,
      });
      // Each driver gets a tenant and robots of its own, so no backlog leaks from one to the next.
      const drive = async (robotCount: number, phases: Phase[]) => {
        const tenant = await createBenchTenant(pool.db);
        const robots = await createBenchRobots(pool.db, tenant, robotCount, CONCURRENCY);
        const args: DriverArgs = {
          wsUrl: `${dispatch.baseUrl.replace(/^http/, "ws")}/api/dispatch/robot/v1/ws`,
          apiUrl: dispatch.baseUrl,
          userToken: await signer.user(tenant.ownerId, tenant.tenantId, "owner"),
          robots: await Promise.all(
            robots.map(async (r) => ({ robotId: r.robotId, token: await signer.robot(r) })),
          ),
          concurrency: CONCURRENCY,
          phases,
          runId: randomBytes(4).toString("hex"),
        };
        const file = join(tmpdir(), `bench-b3-${args.runId}.json`);
        writeFileSync(file, JSON.stringify(args));
        try {
          const result = await runPinnedJson<DriverResult>(cores.load, [
            "--import",
            "tsx",
            "b3-dispatch/driver.ts",
            file,
          ]);
          const phasesWithTruth = [];
          for (const phase of result.phases)
            phasesWithTruth.push({ ...phase, db: await truth(pool.db, tenant.tenantId, phase.runId) });
          return { ...result, phases: phasesWithTruth };
        } finally {
          rmSync(file, { force: true });
        }
      };
      try {
        for (const robotCount of robotCounts) {
          const result = await drive(
            robotCount,
            RATES.map((rate) => ({ rate, seconds, cutFraction: 0, cutEveryMs: 0, drainMs: 10_000 })),
          );
          console.log(
            `  rep ${rep + 1} ${robotCount} robots connected in ${formatNumber(result.connectMs)} ms`,
          );
          for (const r of result.phases) {
            const name = `dispatch ${robotCount} robots @${r.rate}/s`;
            push(name, "p50", r.offerP50);
            push(name, "p99", r.offerP99);
            push(name, "acceptP50", r.acceptP50);
            push(name, "acceptP99", r.acceptP99);
            push(name, "perSecond", r.acceptedPerSecond);
            integrity.push({ rep, name, connectMs: result.connectMs, ...r });
            console.log(
              `  rep ${rep + 1} ${name}: offer p50 ${fixed(r.offerP50)} / p99 ${fixed(r.offerP99)} ms, accepted p50 ${fixed(r.acceptP50)} / p99 ${fixed(r.acceptP99)} ms, ${formatNumber(r.acceptedPerSecond)} accepted/s, create errors ${r.createErrors}, unfinished ${r.unfinished}, duplicated ${r.duplicated}, db ${JSON.stringify(r.db)}`,
            );
          }
        }
        // Forced disconnects with a long drain: every task should be completed exactly once. What
        // is unfinished is shown with its Postgres status (still queued is late, not lost).
        const [cut] = (
          await drive(100, [
            {
              rate: CUT_RATE,
              seconds: Math.max(seconds, 5),
              cutFraction: 0.05,
              cutEveryMs: 500,
              drainMs: 60_000,
            },
          ])
        ).phases;
        integrity.push({ rep, name: "cuts", ...cut });
        push("cuts", "unfinished", cut!.unfinished);
        push("cuts", "duplicated", cut!.duplicated);
        console.log(
          `  rep ${rep + 1} 100 robots @${CUT_RATE}/s, 5 % cut every 0.5 s: ${cut!.cuts} cuts, ${cut!.reconnects} reconnects, ${cut!.completed}/${cut!.sent} completed, unfinished ${cut!.unfinished}, duplicated ${cut!.duplicated}, db ${JSON.stringify(cut!.db)}`,
        );
      } finally {
        await dispatch.stop();
        await deleteKeys(redis, `${prefix}*`);
      }
    }
  } finally {
    redis.disconnect();
    await pool.close();
    await signer.close();
  }
  return report(series, integrity);
}

/** Percentiles of a phase with no samples arrive as null (JSON has no NaN). */
const fixed = (value: number | null, digits = 1) =>
  value === null || Number.isNaN(value) ? "–" : value.toFixed(digits);

function report(series: Record<string, Record<string, number[]>>, integrity: Record<string, unknown>[]) {
  const ms = (s: Summary) => `${fixed(s.median)} (${fixed(s.min)}–${fixed(s.max)})`;
  const results: Record<string, Record<string, Summary>> = {};
  const rows: string[][] = [];
  for (const rate of RATES) {
    const bull = summarize(series[`BullMQ add→process @${rate}/s`]?.p50 ?? [Number.NaN]);
    for (const name of Object.keys(series).filter((n) => n.endsWith(`@${rate}/s`))) {
      const fields = series[name]!;
      results[name] = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, summarize(v)]));
      const p50 = results[name].p50!;
      rows.push([
        name,
        ms(p50),
        ms(results[name].p99!),
        fields.acceptP50 ? ms(results[name].acceptP50!) : "",
        fields.acceptP99 ? ms(results[name].acceptP99!) : "",
        formatNumber(results[name].perSecond!.median),
        `${(p50.median / bull.median).toFixed(1)}×`,
      ]);
    }
  }
  printTable(["subject", "p50 ms", "p99 ms", "accepted p50", "accepted p99", "done/s", "p50 ÷ BullMQ"], rows);
  const cuts = series.cuts ?? {};
  console.log(
    `forced disconnects: unfinished ${(cuts.unfinished ?? []).join("/")}, duplicated ${(cuts.duplicated ?? []).join("/")} (per rep)`,
  );
  return { results, integrity };
}
