// B3 load process (pinned apart from dispatch): connects the simulated robots, creates tasks
// through the dispatch API at a fixed arrival rate (open loop), optionally cuts robot
// connections mid-run, waits for every task to be completed, and prints one JSON result.
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { percentile } from "../lib/percentile.js";
import { BenchRobot } from "./robot.js";

export type DriverArgs = {
  wsUrl: string;
  apiUrl: string;
  userToken: string;
  robots: { robotId: string; token: string }[];
  concurrency: number;
  /** Run one after the other on the same connected robots. */
  phases: Phase[];
  runId: string;
};
export type Phase = {
  rate: number;
  seconds: number;
  /** Share of robots whose connection is cut every `cutEveryMs` (0: none). */
  cutFraction: number;
  cutEveryMs: number;
  /** How long to wait after the last create for every task to be completed. */
  drainMs: number;
};

const args = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as DriverArgs;
const nowMs = () => performance.now();
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

type Sample = {
  scheduled: number;
  status?: number;
  created?: number;
  offer?: number;
  accepted?: number;
  executions: number;
  completions: number;
};
const samples = new Map<string, Sample>();
let completed = 0;
let createErrors = 0;
const statuses: Record<string, number> = {};

function createTask(robotId: string, prompt: string): Promise<number> {
  const body = JSON.stringify({ robotId, prompt });
  return new Promise((resolve) => {
    const req = request(
      `${args.apiUrl}/api/dispatch/tasks`,
      {
        method: "POST",
        agent,
        headers: {
          authorization: `Bearer ${args.userToken}`,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", () => resolve(0));
    req.end(body);
  });
}

const robots = args.robots.map(
  (r) =>
    new BenchRobot(args.wsUrl, r.token, args.concurrency, {
      offer: (prompt) => {
        const s = samples.get(prompt);
        if (s && s.offer === undefined) s.offer = nowMs();
      },
      accepted: (prompt) => {
        const s = samples.get(prompt);
        if (!s) return;
        s.executions++;
        s.accepted ??= nowMs();
      },
      completed: (prompt) => {
        const s = samples.get(prompt);
        if (!s) return;
        if (s.completions++ === 0) completed++;
      },
    }),
);
const connectStart = nowMs();
for (let i = 0; i < robots.length; i += 50) await Promise.all(robots.slice(i, i + 50).map((r) => r.start()));
const connectMs = nowMs() - connectStart;

// Warm-up (not counted): one task per robot for the first few robots, to load code paths and pools.
await Promise.all(args.robots.slice(0, 20).map((r, i) => createTask(r.robotId, `warm ${args.runId} ${i}`)));
await new Promise((resolve) => setTimeout(resolve, 500));

async function runPhase(phaseIndex: number, phase: Phase) {
  const runId = `${args.runId}-${phaseIndex}`;
  samples.clear();
  completed = 0;
  createErrors = 0;
  for (const key of Object.keys(statuses)) delete statuses[key];
  const connectsBefore = robots.reduce((sum, r) => sum + r.connects, 0);
  const total = Math.round(phase.rate * phase.seconds);
  const start = nowMs() + 20;
  const windowEnd = start + phase.seconds * 1000;
  let sent = 0;
  let cuts = 0;
  const cutTimer =
    phase.cutFraction > 0
      ? setInterval(() => {
          const count = Math.max(1, Math.round(robots.length * phase.cutFraction));
          for (let i = 0; i < count; i++) robots[Math.floor(Math.random() * robots.length)]!.cut();
          cuts += count;
        }, phase.cutEveryMs)
      : undefined;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = nowMs();
      while (sent < total && start + (sent * 1000) / phase.rate <= now) {
        const seq = sent++;
        const prompt = `b3 ${runId} ${seq}`;
        const sample: Sample = {
          scheduled: start + (seq * 1000) / phase.rate,
          executions: 0,
          completions: 0,
        };
        samples.set(prompt, sample);
        const robot = args.robots[seq % args.robots.length]!;
        void createTask(robot.robotId, prompt).then((status) => {
          sample.created = nowMs();
          sample.status = status;
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status !== 201) createErrors++;
        });
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  if (cutTimer) clearInterval(cutTimer);
  const drainDeadline = nowMs() + phase.drainMs;
  while (completed + createErrors < total && nowMs() < drainDeadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
  const drainedAfterMs = Math.max(0, nowMs() - windowEnd);

  const all = [...samples.values()];
  const offerLatency = all.filter((s) => s.offer !== undefined).map((s) => s.offer! - s.scheduled);
  const acceptLatency = all.filter((s) => s.accepted !== undefined).map((s) => s.accepted! - s.scheduled);
  const createLatency = all.filter((s) => s.created !== undefined).map((s) => s.created! - s.scheduled);
  const acceptedInWindow = all.filter((s) => s.accepted !== undefined && s.accepted <= windowEnd).length;
  return {
    runId,
    rate: phase.rate,
    sent,
    createErrors,
    statuses: { ...statuses },
    createP50: percentile(createLatency, 50),
    createP99: percentile(createLatency, 99),
    offerP50: percentile(offerLatency, 50),
    offerP99: percentile(offerLatency, 99),
    acceptP50: percentile(acceptLatency, 50),
    acceptP99: percentile(acceptLatency, 99),
    acceptedPerSecond: acceptedInWindow / phase.seconds,
    acceptedTotal: acceptLatency.length,
    completed,
    drainedAfterMs,
    cuts,
    reconnects: robots.reduce((sum, r) => sum + r.connects, 0) - connectsBefore,
    // Created (201) and never completed by the end of the drain.
    unfinished: all.filter((s) => s.status === 201 && s.completions === 0).length,
    duplicated: all.filter((s) => s.executions > 1).length,
  };
}

const results = [];
for (const [i, phase] of args.phases.entries()) results.push(await runPhase(i, phase));
for (const robot of robots) robot.stop();
agent.destroy();
console.log(JSON.stringify({ robots: robots.length, connectMs, phases: results }));
process.exit(0);
