import { randomBytes } from "node:crypto";
import { unlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type ChatSubject,
  createFixture,
  dropRedisPrefix,
  freePort,
  ORIGIN,
  prepareBenchDatabase,
  type ServiceSubject,
  selectChatSubjects,
  startBareRelay,
  startChatService,
  startSigner,
  writeLoadConfig,
} from "../lib/chat-service.js";
import { cores, runPinnedJson } from "../lib/processes.js";
import { formatNumber, printTable, summarize } from "../lib/stats.js";
import type { B1LoadConfig } from "./load.js";

type Latency = { fraction: number; messagesPerSecond: number; p50: number; p99: number; samples: number };
type LoadResult = {
  sockets: number;
  deliveriesPerSecond: number;
  latency: Latency[];
  posted: number;
  postErrors: number;
  firstPostError: string | null;
  lost: number;
  outOfOrder: number;
  reloads: number;
};

export type B1Options = { reps: number; durationSeconds: number; adminUrl: string };

const here = dirname(fileURLToPath(import.meta.url));
const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
// Scale knobs for the full run (defaults are the plan's sizes).
const socketCount = Number(process.env.BENCH_B1_SOCKETS ?? 1_000);
const roomSizes = (process.env.BENCH_B1_ROOMS ?? "10,100,1000").split(",").map(Number);
const FRACTIONS = [0.25, 0.5];

type SubjectName = ChatSubject;
// Development only: BENCH_B1_SUBJECTS=chat skips the baseline.
const subjects = selectChatSubjects(process.env.BENCH_B1_SUBJECTS);

/**
 * B1: chat fan-out. The real chat service (HTTP post → Postgres → outbox → stream → hub →
 * sockets, tokens verified against a served JWKS) against a bare `ws` relay speaking the
 * same room protocol, interleaved per repetition; one load process per room size.
 */
export async function run(options: B1Options) {
  const databaseUrl = await prepareBenchDatabase(options.adminUrl, "realtime");
  const signer = await startSigner();
  const sockets = Math.max(socketCount, ...roomSizes);
  const roomsBySize = new Map(roomSizes.map((size) => [size, Math.max(1, Math.floor(sockets / size))]));
  const fixture = await createFixture(
    databaseUrl,
    sockets,
    [...roomsBySize.values()].reduce((a, b) => a + b, 0),
  );
  const tokens = await Promise.all(fixture.userIds.map((id) => signer.userToken(id, fixture.tenantId)));
  let offset = 0;
  const roomIds = new Map<number, string[]>();
  for (const [size, count] of roomsBySize) {
    roomIds.set(size, fixture.chatgroupIds.slice(offset, offset + count));
    offset += count;
  }

  const raw: Record<SubjectName, Map<number, LoadResult[]>> = { bare: new Map(), chat: new Map() };
  const redisPrefix = `bench-b1-${randomBytes(3).toString("hex")}`;
  try {
    for (let rep = 0; rep < options.reps; rep++) {
      for (const name of subjects) {
        let subject: ServiceSubject;
        if (name === "bare") subject = await startBareRelay(cores.subject);
        else {
          subject = await startChatService({
            core: cores.subject,
            port: await freePort(),
            databaseUrl,
            redisUrl,
            redisPrefix,
            jwksUrl: signer.jwksUrl,
          });
        }
        try {
          for (const size of roomSizes) {
            const rooms = roomIds.get(size)!;
            const config: B1LoadConfig = {
              target: { mode: name, httpUrl: subject.httpUrl, wsUrl: subject.wsUrl, origin: ORIGIN },
              tokens: tokens.slice(0, rooms.length * size),
              publisherToken: tokens[0]!,
              rooms,
              roomSize: size,
              durationSeconds: options.durationSeconds,
              fractions: FRACTIONS,
              windowDeliveries: 20_000,
              postConcurrency: 64,
            };
            const file = writeLoadConfig("b1", config);
            try {
              const result = await runPinnedJson<LoadResult>(cores.load, [
                "--import",
                "tsx",
                join(here, "load.ts"),
                file,
              ]);
              const list = raw[name].get(size) ?? [];
              list.push(result);
              raw[name].set(size, list);
              const [l25, l50] = result.latency;
              console.log(
                `  rep ${rep + 1} ${name} rooms of ${size}: ${formatNumber(result.deliveriesPerSecond)} deliveries/s; ` +
                  `p50/p99 ${formatNumber(l25?.p50 ?? Number.NaN, 1)}/${formatNumber(l25?.p99 ?? Number.NaN, 1)} ms at 25 %, ` +
                  `${formatNumber(l50?.p50 ?? Number.NaN, 1)}/${formatNumber(l50?.p99 ?? Number.NaN, 1)} ms at 50 %; ` +
                  `lost ${result.lost}, out of order ${result.outOfOrder}, post errors ${result.postErrors}${result.firstPostError ? ` (${result.firstPostError})` : ""}`,
              );
            } finally {
              unlinkSync(file);
            }
          }
        } finally {
          await subject.stop();
        }
      }
    }
  } finally {
    await signer.close();
    await dropRedisPrefix(redisUrl, redisPrefix);
  }
  return report(raw);
}

function report(raw: Record<SubjectName, Map<number, LoadResult[]>>) {
  const rows: string[][] = [];
  const results: Record<string, unknown> = {};
  const at = (list: LoadResult[], fraction: number, key: "p50" | "p99") =>
    summarize(list.map((r) => r.latency.find((l) => l.fraction === fraction)?.[key] ?? Number.NaN));
  const range = (s: { median: number; min: number; max: number }, digits = 0) =>
    `${formatNumber(s.median, digits)} (${formatNumber(s.min, digits)}–${formatNumber(s.max, digits)})`;
  for (const size of roomSizes) {
    const bare = raw.bare.get(size) ?? [];
    const chat = raw.chat.get(size) ?? [];
    const throughput = {
      bare: summarize(bare.map((r) => r.deliveriesPerSecond)),
      chat: summarize(chat.map((r) => r.deliveriesPerSecond)),
    };
    const p99Half = { bare: at(bare, 0.5, "p99"), chat: at(chat, 0.5, "p99") };
    const integrity = (list: LoadResult[]) => ({
      lost: list.reduce((a, r) => a + r.lost, 0),
      outOfOrder: list.reduce((a, r) => a + r.outOfOrder, 0),
      reloads: list.reduce((a, r) => a + r.reloads, 0),
      postErrors: list.reduce((a, r) => a + r.postErrors, 0),
    });
    const throughputRatio = throughput.chat.median / throughput.bare.median;
    const p99Ratio = p99Half.chat.median / p99Half.bare.median;
    const chatIntegrity = integrity(chat);
    results[`rooms of ${size}`] = {
      deliveriesPerSecond: throughput,
      throughputRatio,
      latency: Object.fromEntries(
        (["bare", "chat"] as const).map((name) => [
          name,
          Object.fromEntries(
            FRACTIONS.map((f) => [
              `${f * 100}%`,
              { p50: at(raw[name].get(size) ?? [], f, "p50"), p99: at(raw[name].get(size) ?? [], f, "p99") },
            ]),
          ),
        ]),
      ),
      p99RatioAtHalf: p99Ratio,
      integrity: { bare: integrity(bare), chat: chatIntegrity },
      goalsMet: {
        throughput: throughputRatio >= 0.8,
        p99: p99Ratio <= 2,
        integrity: chatIntegrity.lost === 0 && chatIntegrity.outOfOrder === 0,
      },
    };
    for (const name of subjects) {
      const list = raw[name].get(size) ?? [];
      const mine = integrity(list);
      rows.push([
        `${size}`,
        name,
        range(throughput[name]),
        name === "chat" ? `${throughputRatio.toFixed(2)}×` : "1.00×",
        `${formatNumber(at(list, 0.25, "p50").median, 1)} / ${formatNumber(at(list, 0.25, "p99").median, 1)}`,
        `${formatNumber(at(list, 0.5, "p50").median, 1)} / ${range(at(list, 0.5, "p99"), 1)}`,
        name === "chat" ? `${p99Ratio.toFixed(2)}×` : "1.00×",
        `${mine.lost}/${mine.outOfOrder}`,
      ]);
    }
  }
  printTable(
    [
      "room",
      "subject",
      "deliveries/s (range)",
      "÷ bare",
      "p50/p99 ms @25 %",
      "p50/p99 ms @50 % (p99 range)",
      "p99 ÷ bare",
      "lost/out-of-order",
    ],
    rows,
  );
  return results;
}
