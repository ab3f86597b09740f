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
import { formatNumber, printTable, type Summary, summarize } from "../lib/stats.js";
import type { B6LoadConfig } from "./load.js";

type LoadResult = {
  connections: number;
  connectErrors: number;
  firstConnectError: string | null;
  connectsPerSecond: number;
  subscribesPerSecond: number;
  bytesPerConnection: number;
  recovered: boolean;
  recoverySeconds: number;
  reconnectErrors: number;
  drained: boolean;
  messagesPosted: number;
  postErrors: number;
  lost: number;
  duplicates: number;
  reloads: number;
  subscribeErrors: number;
};

export type B6Options = { reps: number; durationSeconds: number; adminUrl: string };

const here = dirname(fileURLToPath(import.meta.url));
const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
// Scale knob for the full run: the plan's storm is 10k sockets (needs `ulimit -n` ≥ 12k).
const connections = Number(process.env.BENCH_B6_CONNECTIONS ?? 10_000);
const ROOM_SIZE = 100;
const USERS = Math.min(connections, 1_000);

type SubjectName = ChatSubject;
// Development only: BENCH_B6_SUBJECTS=chat skips the baseline.
const subjects = selectChatSubjects(process.env.BENCH_B6_SUBJECTS);

/**
 * B6: connections. Idle authenticated sockets (subscribed to a room of 100) on one hub
 * process against a bare `ws` server with the same protocol, interleaved per repetition:
 * RSS per connection, connects/s (ticket + upgrade), and a reconnect storm with resume.
 */
export async function run(options: B6Options) {
  const databaseUrl = await prepareBenchDatabase(options.adminUrl, "connections");
  const signer = await startSigner();
  const roomCount = Math.max(1, Math.ceil(connections / ROOM_SIZE));
  const fixture = await createFixture(databaseUrl, USERS, roomCount);
  const tokens = await Promise.all(fixture.userIds.map((id) => signer.userToken(id, fixture.tenantId)));
  const raw: Record<SubjectName, LoadResult[]> = { bare: [], chat: [] };
  const redisPrefix = `bench-b6-${randomBytes(3).toString("hex")}`;
  try {
    for (let rep = 0; rep < options.reps; rep++) {
      for (const name of subjects) {
        const subject: ServiceSubject =
          name === "bare"
            ? await startBareRelay(cores.subject)
            : await startChatService({
                core: cores.subject,
                port: await freePort(),
                databaseUrl,
                redisUrl,
                redisPrefix,
                jwksUrl: signer.jwksUrl,
              });
        const config: B6LoadConfig = {
          target: { mode: name, httpUrl: subject.httpUrl, wsUrl: subject.wsUrl, origin: ORIGIN },
          pid: subject.pid,
          tokens,
          publisherToken: tokens[0]!,
          rooms: fixture.chatgroupIds,
          connections,
          connectConcurrency: 200,
          publishRate: 50,
        };
        const file = writeLoadConfig("b6", config);
        try {
          const r = await runPinnedJson<LoadResult>(cores.load, [
            "--import",
            "tsx",
            join(here, "load.ts"),
            file,
          ]);
          raw[name].push(r);
          console.log(
            `  rep ${rep + 1} ${name}: ${r.connections} sockets, ${formatNumber(r.bytesPerConnection / 1_024, 1)} KB each, ` +
              `${formatNumber(r.connectsPerSecond)} connects/s, storm recovered ${r.recovered ? "" : "NOT "}in ` +
              `${formatNumber(r.recoverySeconds, 2)} s, lost ${r.lost}, dup ${r.duplicates}, reloads ${r.reloads}, subscribe errors ${r.subscribeErrors}` +
              (r.connectErrors ? `, connect errors ${r.connectErrors} (${r.firstConnectError})` : ""),
          );
        } finally {
          unlinkSync(file);
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

function report(raw: Record<SubjectName, LoadResult[]>) {
  const stat = (name: SubjectName, pick: (r: LoadResult) => number) => summarize(raw[name].map(pick));
  const metrics = {
    kbPerConnection: (r: LoadResult) => r.bytesPerConnection / 1_024,
    connectsPerSecond: (r: LoadResult) => r.connectsPerSecond,
    subscribesPerSecond: (r: LoadResult) => r.subscribesPerSecond,
    recoverySeconds: (r: LoadResult) => r.recoverySeconds,
  };
  const results: Record<string, unknown> = {};
  const summaries: Record<SubjectName, Record<string, Summary>> = { bare: {}, chat: {} };
  for (const name of subjects) {
    for (const [metric, pick] of Object.entries(metrics)) summaries[name][metric] = stat(name, pick);
    const list = raw[name];
    results[name] = {
      ...summaries[name],
      connections: list[0]?.connections,
      lost: list.reduce((a, r) => a + r.lost, 0),
      duplicates: list.reduce((a, r) => a + r.duplicates, 0),
      reloads: list.reduce((a, r) => a + r.reloads, 0),
      allRecovered: list.every((r) => r.recovered && r.drained),
      connectErrors: list.reduce((a, r) => a + r.connectErrors, 0),
      subscribeErrors: list.reduce((a, r) => a + r.subscribeErrors, 0),
    };
  }
  const chat = summaries.chat;
  const bare = summaries.bare;
  if (!raw.chat.length || !raw.bare.length) return results;
  const memoryRatio = chat.kbPerConnection!.median / bare.kbPerConnection!.median;
  const chatLost = raw.chat.reduce((a, r) => a + r.lost + r.reloads, 0);
  results.ratios = {
    memoryPerConnection: memoryRatio,
    connectsPerSecond: chat.connectsPerSecond!.median / bare.connectsPerSecond!.median,
    recovery: chat.recoverySeconds!.median / bare.recoverySeconds!.median,
  };
  results.goalsMet = {
    memory: memoryRatio <= 2,
    connects: chat.connectsPerSecond!.median >= 2_500,
    storm: chat.recoverySeconds!.median <= 10 && chatLost === 0 && raw.chat.every((r) => r.recovered),
  };
  const cell = (s: Summary, digits = 0) =>
    `${formatNumber(s.median, digits)} (${formatNumber(s.min, digits)}–${formatNumber(s.max, digits)})`;
  printTable(
    ["subject", "KB / connection", "connects/s", "subscribes/s", "storm recovery s", "lost/dup/reload"],
    subjects.map((name) => [
      name,
      cell(summaries[name].kbPerConnection!, 1),
      cell(summaries[name].connectsPerSecond!),
      cell(summaries[name].subscribesPerSecond!),
      cell(summaries[name].recoverySeconds!, 2),
      `${raw[name].reduce((a, r) => a + r.lost, 0)}/${raw[name].reduce((a, r) => a + r.duplicates, 0)}/${raw[name].reduce((a, r) => a + r.reloads, 0)}`,
    ]),
  );
  console.log(
    `chat ÷ bare: memory ${memoryRatio.toFixed(2)}×, connects ${(results.ratios as { connectsPerSecond: number }).connectsPerSecond.toFixed(2)}×, recovery ${(results.ratios as { recovery: number }).recovery.toFixed(2)}×`,
  );
  return results;
}
