import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { createChatFixture, resetMessages } from "../lib/chat-fixtures.js";
import { BENCH_ISSUER, benchDatabase, startSigner } from "../lib/fixtures.js";
import { cores, runPinnedJson, type Subject, startPinned } from "../lib/processes.js";
import { startService } from "../lib/service.js";
import { formatNumber, printTable, summarize } from "../lib/stats.js";
import type { LoadJob, StepResult } from "./load.js";

export type B2Options = { reps: number; durationSeconds: number; adminUrl: string };

const REDIS_URL = "redis://127.0.0.1:6379";
const profileDir = process.env.BENCH_B2_CPU_PROF;
const ORIGIN = "http://bench.perseus.test";
const STEPS = [200, 500, 1_000, 2_000];
const ROOMS = 100;
const MEMBERS_PER_ROOM = 10;
/** A step is sustained when acks keep up with arrivals (≥ 95 %) and nothing acked goes undelivered. */
const isSustained = (step: StepResult) =>
  step.ackedPerSecond >= 0.95 * step.offered &&
  step.failed === 0 &&
  step.delivered >= step.expectedDeliveries;

/**
 * B2: send → persist → deliver. The chat service (its own server.ts, relay in process) and
 * a bare one-process pipeline, alternately on core `subject`, driven from core `load` by an
 * open-loop generator stepping 200/500/1 000/2 000 msg/s over 100 rooms of 10 sockets.
 */
export async function run(options: B2Options) {
  const database = await benchDatabase(options.adminUrl, "perseus_bench_b2");
  const fixture = await createChatFixture(database.appUrl, {
    rooms: ROOMS,
    membersPerRoom: MEMBERS_PER_ROOM,
  });
  const signer = await startSigner();
  const rooms = await Promise.all(
    fixture.rooms.map(async (chatgroupId, index) => ({
      chatgroupId,
      posterId: fixture.members[index]![0]!,
      members: await Promise.all(
        fixture.members[index]!.map(async (userId) => ({
          userId,
          token: await signer.user(userId, fixture.tenantId, "user"),
        })),
      ),
    })),
  );
  const redisPrefix = `bench-b2-${randomBytes(4).toString("hex")}`;
  const subjects = ["bare", "chat"] as const;
  const samples: Record<string, StepResult[][]> = { bare: [], chat: [] };

  try {
    for (let rep = 0; rep < options.reps; rep++) {
      for (const kind of subjects) {
        await resetMessages(database);
        let subject: Subject | { stop: () => Promise<void> };
        let address: string;
        if (kind === "chat") {
          const service = await startService(
            "chat",
            cores.subject,
            {
              DATABASE_URL: database.appUrl,
              REDIS_URL,
              REDIS_PREFIX: redisPrefix,
              AUTH_JWKS_URL: signer.jwksUrl,
              AUTH_ISSUER: BENCH_ISSUER,
              PUBLIC_ORIGIN: ORIGIN,
            },
            // A CPU profile of the service, written when it stops (to explain a miss).
            profileDir ? { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] } : {},
          );
          subject = service;
          address = `127.0.0.1:${service.port}`;
        } else {
          const bare = await startPinned(cores.subject, [
            "--import",
            "tsx",
            "b2-pipeline/bare.ts",
            database.adminUrl,
            REDIS_URL,
            `${redisPrefix}:bare`,
            fixture.tenantId,
          ]);
          subject = bare;
          address = `127.0.0.1:${bare.ready.port}`;
        }
        const file = join(tmpdir(), `perseus-b2-${process.pid}-${kind}.json`);
        const job: LoadJob = {
          kind,
          address,
          origin: ORIGIN,
          rooms,
          steps: STEPS,
          durationSeconds: options.durationSeconds,
        };
        writeFileSync(file, JSON.stringify(job));
        try {
          const { steps } = await runPinnedJson<{ steps: StepResult[] }>(cores.load, [
            "--import",
            "tsx",
            "b2-pipeline/load.ts",
            file,
          ]);
          samples[kind]!.push(steps);
          for (const step of steps) {
            if (step.skipped) {
              console.log(
                `  rep ${rep + 1} ${kind} @ ${step.offered}/s: skipped (an earlier step saturated)`,
              );
              continue;
            }
            const failures = Object.entries(step.failures).map(([reason, count]) => `${count}× ${reason}`);
            if (failures.length) console.log(`    failures: ${failures.slice(0, 3).join("; ")}`);
            console.log(
              `  rep ${rep + 1} ${kind} @ ${step.offered}/s: ${formatNumber(step.ackedPerSecond)} persisted/s, ack p50/p99 ${step.ackP50}/${step.ackP99} ms, delivery p50/p99 ${step.deliveryP50}/${step.deliveryP99} ms, delivered ${step.delivered}/${step.expectedDeliveries}, failed ${step.failed}`,
            );
          }
        } finally {
          rmSync(file, { force: true });
          await subject.stop();
        }
      }
    }
  } finally {
    await signer.close();
    await dropPrefix(redisPrefix);
    await resetMessages(database);
  }

  const results: Record<string, unknown> = {};
  const rows: string[][] = [];
  for (const kind of subjects) {
    const knees = samples[kind]!.map((steps) =>
      Math.max(0, ...steps.filter(isSustained).map((s) => s.offered)),
    );
    const perStep = STEPS.map((offered, index) => {
      const at = samples[kind]!.map((steps) => steps[index]!).filter((step) => !step.skipped);
      return {
        offered,
        runs: at.length,
        persisted: summarize(at.map((s) => s.ackedPerSecond)),
        ackP99: summarize(at.map((s) => s.ackP99)),
        deliveryP50: summarize(at.map((s) => s.deliveryP50)),
        deliveryP99: summarize(at.map((s) => s.deliveryP99)),
        lost: at.reduce((sum, s) => sum + (s.expectedDeliveries - s.delivered), 0),
        failed: at.reduce((sum, s) => sum + s.failed, 0),
      };
    });
    results[kind] = { knee: summarize(knees), steps: perStep };
    for (const step of perStep) {
      if (step.runs === 0) {
        rows.push([kind, String(step.offered), "skipped (saturated below)", "", "", "", ""]);
        continue;
      }
      rows.push([
        kind,
        String(step.offered),
        `${formatNumber(step.persisted.median)} (${formatNumber(step.persisted.min)}–${formatNumber(step.persisted.max)})`,
        `${formatNumber(step.ackP99.median, 1)} ms`,
        `${formatNumber(step.deliveryP50.median, 1)} / ${formatNumber(step.deliveryP99.median, 1)} ms`,
        String(step.lost),
        String(step.failed),
      ]);
    }
  }
  printTable(
    ["subject", "offered/s", "persisted/s (range)", "ack p99", "delivery p50 / p99", "lost", "failed"],
    rows,
  );
  const bareKnee = (results.bare as { knee: { median: number } }).knee.median;
  const chatKnee = (results.chat as { knee: { median: number } }).knee.median;
  console.log(
    `knee (highest sustained step, median): bare ${bareKnee}/s, chat ${chatKnee}/s (${bareKnee ? (chatKnee / bareKnee).toFixed(2) : "–"}× bare)`,
  );
  return results;
}

/** Deletes the run's Redis keys (streams, consumer state, registry entries). */
async function dropPrefix(prefix: string) {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}
