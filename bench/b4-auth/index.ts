import { readFileSync } from "node:fs";
import { migrate } from "@perseus/db/migrate";
import { cores, runPinnedJson, startPinned } from "../lib/processes.js";
import { formatNumber, printTable, type Summary, summarize } from "../lib/stats.js";

type LoadResult = {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  total: number;
};

const subjects = [
  { name: "node:http (bare)", variant: "node-http", path: "/" },
  { name: "Fastify hello (bare)", variant: "fastify", path: "/hello" },
  { name: "(a) auth only", variant: "auth", path: "/api/bench/hello" },
  { name: "(b) auth + Postgres read", variant: "auth-pg", path: "/api/bench/hello" },
  { name: "(c) auth + Redis read", variant: "auth-redis", path: "/api/bench/hello" },
] as const;

/**
 * CPU time (user + system, in µs) the process has used so far, from /proc (Linux clock
 * ticks are 10 ms). Per request it is less sensitive than req/s to other load on the
 * machine, so it is reported next to throughput.
 */
function cpuMicros(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return Number.NaN;
  }
}

export type B4Options = { reps: number; durationSeconds: number; adminUrl: string };

/**
 * B4: authenticated API throughput. Subjects run one at a time on their own core,
 * interleaved across repetitions (A B C D E, A B C D E, …) so drift hits all alike.
 * Each: saturation at -c100 -p1 and -p10, then p99 at 50 % of its own -p1 saturation.
 */
export async function run(options: B4Options) {
  const benchDb = new URL(options.adminUrl);
  benchDb.pathname = "/perseus_bench";
  await migrate({ adminUrl: benchDb.toString() });

  const throughput: Record<
    string,
    { p1: number[]; p10: number[]; p99Half: number[]; cpuPerRequest: number[]; errors: number }
  > = {};
  for (const s of subjects)
    throughput[s.name] = { p1: [], p10: [], p99Half: [], cpuPerRequest: [], errors: 0 };

  for (let rep = 0; rep < options.reps; rep++) {
    for (const subject of subjects) {
      const server = await startPinned(cores.subject, [
        "--import",
        "tsx",
        "b4-auth/subject.ts",
        subject.variant,
      ]);
      try {
        const url = `http://127.0.0.1:${server.ready.port}${subject.path}`;
        const headers = server.ready.token ? { authorization: `Bearer ${server.ready.token}` } : {};
        const load = (extra: Record<string, unknown>) =>
          runPinnedJson<LoadResult>(cores.load, [
            "--import",
            "tsx",
            "lib/load.ts",
            JSON.stringify({ url, headers, connections: 100, duration: options.durationSeconds, ...extra }),
          ]);
        await load({ duration: 1, pipelining: 1 }); // warm-up: JIT, pools, token cache
        const cpuBefore = cpuMicros(server.process.pid);
        const p1 = await load({ pipelining: 1 });
        const cpuPerRequest = (cpuMicros(server.process.pid) - cpuBefore) / Math.max(1, p1.total);
        const p10 = await load({ pipelining: 10 });
        const half = await load({
          pipelining: 1,
          overallRate: Math.max(1, Math.round(p1.requestsPerSecond / 2)),
        });
        const entry = throughput[subject.name]!;
        entry.p1.push(p1.requestsPerSecond);
        entry.p10.push(p10.requestsPerSecond);
        entry.p99Half.push(half.p99);
        entry.cpuPerRequest.push(cpuPerRequest);
        entry.errors += p1.errors + p10.errors + half.errors + p1.non2xx + p10.non2xx + half.non2xx;
        console.log(
          `  rep ${rep + 1} ${subject.name}: ${formatNumber(p1.requestsPerSecond)} req/s (-p1), ${formatNumber(p10.requestsPerSecond)} (-p10), p99 ${half.p99} ms at 50 %, ${formatNumber(cpuPerRequest)} µs CPU/request`,
        );
      } finally {
        await server.stop();
      }
    }
  }

  const fastify = summarize(throughput["Fastify hello (bare)"]!.p1);
  const fastifyP10 = summarize(throughput["Fastify hello (bare)"]!.p10);
  const fastifyCpu = summarize(throughput["Fastify hello (bare)"]!.cpuPerRequest);
  const rows: string[][] = [];
  const results: Record<
    string,
    {
      p1: Summary;
      p10: Summary;
      p99AtHalf: Summary;
      cpuPerRequestMicros: Summary;
      ratioToFastify: number;
      cpuRatioToFastify: number;
      errors: number;
    }
  > = {};
  for (const subject of subjects) {
    const entry = throughput[subject.name]!;
    const p1 = summarize(entry.p1);
    const p10 = summarize(entry.p10);
    const p99 = summarize(entry.p99Half);
    const cpu = summarize(entry.cpuPerRequest);
    const ratio = p1.median / fastify.median;
    // Fastify's CPU per request over the subject's: the throughput ratio one core would allow.
    const cpuRatio = fastifyCpu.median / cpu.median;
    results[subject.name] = {
      p1,
      p10,
      p99AtHalf: p99,
      cpuPerRequestMicros: cpu,
      ratioToFastify: ratio,
      cpuRatioToFastify: cpuRatio,
      errors: entry.errors,
    };
    rows.push([
      subject.name,
      `${formatNumber(p1.median)} (${formatNumber(p1.min)}–${formatNumber(p1.max)})`,
      `${(p1.median / fastify.median).toFixed(2)}×`,
      `${formatNumber(p10.median)} (${(p10.median / fastifyP10.median).toFixed(2)}×)`,
      `${formatNumber(p99.median, 1)} ms`,
      `${formatNumber(cpu.median)} µs (${cpuRatio.toFixed(2)}×)`,
      String(entry.errors),
    ]);
  }
  printTable(
    [
      "subject",
      "req/s -c100 -p1 (range)",
      "÷ Fastify",
      "req/s -p10 (÷ Fastify)",
      "p99 @ 50 %",
      "CPU/req (Fastify ÷ it)",
      "errors",
    ],
    rows,
  );
  return results;
}
