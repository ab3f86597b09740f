import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { BENCH_ISSUER, benchDatabase, createBenchTenant, openDb, startSigner } from "../lib/fixtures.js";
import { cores, runPinnedJson, startPinned } from "../lib/processes.js";
import { deleteKeys } from "../lib/redis-keys.js";
import { startService } from "../lib/service.js";
import { formatNumber, printTable, type Summary, summarize } from "../lib/stats.js";
import type { ClientArgs } from "./client.js";

const MB = 2 ** 20;
const REDIS_URL = "redis://127.0.0.1:6379";
const SMALL = { count: 2_000, bytes: 4 * 1024, concurrency: 16 };

export type B7Options = { reps: number; durationSeconds: number; adminUrl: string; big?: boolean };
type ClientResult = {
  baseRss: number;
  files: { size: number; uploadMBps: number; downloadMBps: number; peakRss: number }[];
  small: {
    uploadPerSecond: number;
    downloadPerSecond: number;
    peakRss: number;
    errors: number;
    firstErrors: string[];
  };
};

/**
 * B7: the real workspace service (user token, local storage driver) against a bare node:http
 * server streaming to and from disk, alternated within each repetition. Files of 1, 16 and
 * 256 MB (and 1 GB with --big) up then down, then 2 000 files of 4 KB, 16 in flight; the
 * server's RSS sampled every 20 ms. `durationSeconds` does not apply: each case is a fixed size.
 */
export async function run(options: B7Options) {
  const sizes = [1 * MB, 16 * MB, 256 * MB, ...(options.big ? [1024 * MB] : [])];
  const { appUrl } = await benchDatabase(options.adminUrl);
  const signer = await startSigner();
  const pool = openDb(appUrl);
  const tenant = await createBenchTenant(pool.db);
  const token = await signer.user(tenant.ownerId, tenant.tenantId, "owner");
  const workspaceDir = mkdtempSync(join(tmpdir(), "bench-b7-ws-"));
  const rawDir = mkdtempSync(join(tmpdir(), "bench-b7-raw-"));
  const prefix = `bench-b7-${randomBytes(4).toString("hex")}`;
  const workspace = await startService("workspace", cores.subject, {
    DATABASE_URL: appUrl,
    REDIS_URL,
    REDIS_PREFIX: prefix,
    AUTH_JWKS_URL: signer.jwksUrl,
    AUTH_ISSUER: BENCH_ISSUER,
    WORKSPACE_STORAGE_DIR: workspaceDir,
    WORKSPACE_TENANT_QUOTA_BYTES: String(2 ** 42),
  });
  const raw = await startPinned(cores.subject, ["--import", "tsx", "b7-workspace/raw-server.ts", rawDir]);
  const subjects: {
    name: string;
    pid: number;
    url: string;
    headers: Record<string, string>;
    uploadHeaders: Record<string, string>;
  }[] = [
    {
      name: "raw stream copy (bare)",
      pid: raw.process.pid!,
      url: `http://127.0.0.1:${raw.ready.port}/files?path={name}`,
      headers: {},
      uploadHeaders: {},
    },
    {
      name: "workspace",
      pid: workspace.process.pid!,
      url: `${workspace.baseUrl}/api/workspace/layers/chatgroup/${tenant.chatgroupId}/files?path=bench/{name}`,
      headers: { authorization: `Bearer ${token}` },
      uploadHeaders: { "if-none-match": "*" },
    },
  ];
  const runs: Record<string, ClientResult[]> = {};
  try {
    for (let rep = 0; rep < options.reps; rep++) {
      for (const subject of subjects) {
        const args: ClientArgs = {
          url: subject.url,
          headers: subject.headers,
          uploadHeaders: subject.uploadHeaders,
          pid: subject.pid,
          sizes,
          small: SMALL,
          runId: `r${rep}-${randomBytes(3).toString("hex")}`,
        };
        const result = await runPinnedJson<ClientResult>(cores.load, [
          "--import",
          "tsx",
          "b7-workspace/client.ts",
          JSON.stringify(args),
        ]);
        runs[subject.name] = [...(runs[subject.name] ?? []), result];
        const files = result.files
          .map(
            (f) =>
              `${f.size / MB} MB ↑${formatNumber(f.uploadMBps)} ↓${formatNumber(f.downloadMBps)} MB/s (RSS ≤ ${formatNumber(f.peakRss / MB)} MB)`,
          )
          .join(", ");
        console.log(
          `  rep ${rep + 1} ${subject.name}: ${files}; ${SMALL.count} × ${SMALL.bytes / 1024} KB ↑${formatNumber(result.small.uploadPerSecond)} ↓${formatNumber(result.small.downloadPerSecond)} files/s, ${result.small.errors} refused ${result.small.firstErrors.join(" | ")}`,
        );
      }
    }
  } finally {
    await raw.stop();
    await workspace.stop();
    const redis = new Redis(REDIS_URL);
    await deleteKeys(redis, `${prefix}*`);
    redis.disconnect();
    await pool.close();
    await signer.close();
    rmSync(workspaceDir, { recursive: true, force: true });
    rmSync(rawDir, { recursive: true, force: true });
  }
  return report(sizes, runs);
}

function report(sizes: number[], runs: Record<string, ClientResult[]>) {
  const bare = runs["raw stream copy (bare)"] ?? [];
  const ws = runs.workspace ?? [];
  const cell = (s: Summary, digits = 0) =>
    `${formatNumber(s.median, digits)} (${formatNumber(s.min, digits)}–${formatNumber(s.max, digits)})`;
  const rows: string[][] = [];
  const results: Record<string, Record<string, Summary | number>> = {};
  const add = (name: string, pick: (r: ClientResult) => number, rss: (r: ClientResult) => number) => {
    const b = summarize(bare.map(pick));
    const w = summarize(ws.map(pick));
    const peak = summarize(ws.map(rss).map((v) => v / MB));
    // Growth over the idle process: what the transfer itself costs in memory.
    const growth = summarize(ws.map((r) => (rss(r) - r.baseRss) / MB));
    const bareGrowth = summarize(bare.map((r) => (rss(r) - r.baseRss) / MB));
    results[name] = {
      raw: b,
      workspace: w,
      ratio: w.median / b.median,
      workspaceRssMb: peak,
      workspaceRssGrowthMb: growth,
    };
    rows.push([
      name,
      cell(b),
      cell(w),
      `${(w.median / b.median).toFixed(2)}×`,
      cell(peak),
      cell(growth),
      cell(bareGrowth),
    ]);
  };
  for (const [i, size] of sizes.entries()) {
    add(
      `${size / MB} MB upload MB/s`,
      (r) => r.files[i]!.uploadMBps,
      (r) => r.files[i]!.peakRss,
    );
    add(
      `${size / MB} MB download MB/s`,
      (r) => r.files[i]!.downloadMBps,
      (r) => r.files[i]!.peakRss,
    );
  }
  add(
    `${SMALL.count} × 4 KB upload files/s`,
    (r) => r.small.uploadPerSecond,
    (r) => r.small.peakRss,
  );
  add(
    `${SMALL.count} × 4 KB download files/s`,
    (r) => r.small.downloadPerSecond,
    (r) => r.small.peakRss,
  );
  printTable(
    [
      "case",
      "raw (range)",
      "workspace (range)",
      "÷ raw",
      "workspace peak RSS MB",
      "growth MB",
      "raw growth MB",
    ],
    rows,
  );
  return { results, baseRss: { workspace: ws.map((r) => r.baseRss), raw: bare.map((r) => r.baseRss) } };
}
