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
import { startService } from "../lib/service.js";
import { formatNumber, printTable, type Summary, summarize } from "../lib/stats.js";
import type { DriverArgs } from "./driver.js";

const REDIS_URL = "redis://127.0.0.1:6379";
const RATES = [10, 100, 1_000];
const ROBOT_COUNTS = [100, 1_000];
const CONCURRENCY = 8;

export type B3Options = { reps: number; durationSeconds: number; adminUrl: string };
type DriverResult = {
  sent: number;
  createErrors: number;
  offerP50: number;
  offerP99: number;
  acceptP50: number;
  acceptP99: number;
  createP99: number;
  acceptedPerSecond: number;
  completed: number;
  drainedAfterMs: number;
  cuts: number;
  reconnects: number;
  lost: number;
  duplicated: number;
};
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
 * arrival rates with 100 and 1 000 connected robots, interleaved with the bare baselines at
 * the same rates; then a run with robot connections cut every half second.
 */
export async function run(options: B3Options) {
  const { appUrl } = await benchDatabase(options.adminUrl);
  const signer = await startSigner();
  const pool = openDb(appUrl);
  const redis = new Redis(REDIS_URL);
  const seconds = options.durationSeconds;
  const series: Record<string, Record<string, number[]>> = {};
  const push = (name: string, field: string, value: number) => {
    series[name] ??= {};
    (series[name][field] ??= []).push(value);
  };
  const integrity: Record<string, unknown>[] = [];
  try {
    for (let rep = 0; rep < options.reps; rep++) {
      const prefix = `bench-b3-${randomBytes(4).toString("hex")}`;
      const tenant = await createBenchTenant(pool.db);
      const robots = await createBenchRobots(pool.db, tenant, Math.max(...ROBOT_COUNTS), CONCURRENCY);
      const robotTokens = await Promise.all(
        robots.map(async (r) => ({ robotId: r.robotId, token: await signer.robot(r) })),
      );
      const userToken = await signer.user(tenant.ownerId, tenant.tenantId, "owner");
      const dispatch = await startService("dispatch", cores.subject, {
        DATABASE_URL: appUrl,
        REDIS_URL,
        REDIS_PREFIX: prefix,
        AUTH_JWKS_URL: signer.jwksUrl,
        AUTH_ISSUER: BENCH_ISSUER,
      });
      const drive = async (extra: Partial<DriverArgs> & { robotCount: number; rate: number }) => {
        const runId = randomBytes(4).toString("hex");
        const file = join(tmpdir(), `bench-b3-${runId}.json`);
        const args: DriverArgs = {
          wsUrl: `${dispatch.baseUrl.replace(/^http/, "ws")}/api/dispatch/robot/v1/ws`,
          apiUrl: dispatch.baseUrl,
          userToken,
          robots: robotTokens.slice(0, extra.robotCount),
          concurrency: CONCURRENCY,
          seconds,
          cutFraction: 0,
          cutEveryMs: 500,
          drainMs: 20_000,
          runId,
          ...extra,
        };
        delete (args as Partial<typeof extra>).robotCount;
        writeFileSync(file, JSON.stringify(args));
        try {
          const result = await runPinnedJson<DriverResult>(cores.load, [
            "--import",
            "tsx",
            "b3-dispatch/driver.ts",
            file,
          ]);
          return { ...result, db: await truth(pool.db, tenant.tenantId, runId) };
        } finally {
          rmSync(file, { force: true });
        }
      };
      try {
        for (const rate of RATES) {
          for (const kind of ["xadd", "bullmq"] as const) {
            const b = await baseline(kind, rate, seconds);
            const name = `${kind === "xadd" ? "XADD→XREADGROUP" : "BullMQ add→process"} @${rate}/s`;
            push(name, "p50", b.p50);
            push(name, "p99", b.p99);
            push(name, "perSecond", b.received / seconds);
            console.log(`  rep ${rep + 1} ${name}: p50 ${b.p50.toFixed(2)} ms, p99 ${b.p99.toFixed(2)} ms`);
          }
          for (const robotCount of ROBOT_COUNTS) {
            const r = await drive({ robotCount, rate });
            const name = `dispatch ${robotCount} robots @${rate}/s`;
            push(name, "p50", r.offerP50);
            push(name, "p99", r.offerP99);
            push(name, "acceptP50", r.acceptP50);
            push(name, "acceptP99", r.acceptP99);
            push(name, "perSecond", r.acceptedPerSecond);
            integrity.push({ rep, name, ...r });
            console.log(
              `  rep ${rep + 1} ${name}: offer p50 ${r.offerP50.toFixed(1)} / p99 ${r.offerP99.toFixed(1)} ms, accepted p50 ${r.acceptP50.toFixed(1)} / p99 ${r.acceptP99.toFixed(1)} ms, ${formatNumber(r.acceptedPerSecond)} accepted/s, lost ${r.lost}, dup ${r.duplicated}, db ${JSON.stringify(r.db.byStatus)}`,
            );
          }
        }
        const cut = await drive({ robotCount: 100, rate: 100, cutFraction: 0.05, cutEveryMs: 500 });
        integrity.push({ rep, name: "cuts", ...cut });
        push("cuts", "lost", cut.lost);
        push("cuts", "duplicated", cut.duplicated);
        console.log(
          `  rep ${rep + 1} 100 robots @100/s, 5 % cut every 0.5 s: ${cut.cuts} cuts, ${cut.reconnects} reconnects, ${cut.completed}/${cut.sent} completed, lost ${cut.lost}, duplicated ${cut.duplicated}, db ${JSON.stringify(cut.db)}`,
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

async function deleteKeys(redis: Redis, pattern: string) {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== "0");
}

function report(series: Record<string, Record<string, number[]>>, integrity: Record<string, unknown>[]) {
  const ms = (s: Summary) => `${s.median.toFixed(1)} (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
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
  printTable(
    ["subject", "p50 ms", "p99 ms", "accepted p50", "accepted p99", "done/s", "p50 ÷ BullMQ"],
    rows,
  );
  const cuts = series.cuts ?? {};
  console.log(
    `forced disconnects: lost ${(cuts.lost ?? []).join("/")}, duplicated ${(cuts.duplicated ?? []).join("/")} (per rep)`,
  );
  return { results, integrity };
}
