// B3's bare baselines, one role per process: `consumer` (pinned with the system under test)
// or `producer` (pinned with the load), for `xadd` (XADD → XREADGROUP BLOCK) or `bullmq`
// (Queue.add → Worker processor start). Messages carry their scheduled send time from the
// monotonic clock, which all processes on one machine share, so latency is measured one way.
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { percentile } from "../lib/percentile.js";

type Args = {
  role: "consumer" | "producer";
  kind: "xadd" | "bullmq";
  redisUrl: string;
  key: string;
  rate: number;
  seconds: number;
  expected: number;
};
const args = JSON.parse(process.argv[2] ?? "{}") as Args;
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

async function produce() {
  const redis = new Redis(args.redisUrl, { maxRetriesPerRequest: null });
  const queue = args.kind === "bullmq" ? new Queue(args.key, { connection: redis }) : undefined;
  const total = Math.round(args.rate * args.seconds);
  const start = nowMs() + 50;
  let sent = 0;
  let errors = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = nowMs();
      while (sent < total && start + (sent * 1000) / args.rate <= now) {
        const at = String(start + (sent * 1000) / args.rate);
        const id = String(sent++);
        const added = queue
          ? queue.add("job", { id, at }, { removeOnComplete: true, removeOnFail: true })
          : redis.xadd(args.key, "*", "id", id, "at", at);
        added.catch(() => errors++);
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await queue?.close();
  await redis.quit();
  console.log(JSON.stringify({ sent, errors }));
}

async function consume() {
  const latencies: number[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  const record = (id: string, at: string) => {
    latencies.push(nowMs() - Number(at));
    if (seen.has(id)) duplicates++;
    seen.add(id);
  };
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const check = () => {
    if (seen.size >= args.expected) finish();
  };
  const timer = setTimeout(finish, (args.seconds + 15) * 1000);
  let stop: () => Promise<void>;
  if (args.kind === "bullmq") {
    const connection = new Redis(args.redisUrl, { maxRetriesPerRequest: null });
    const worker = new Worker(
      args.key,
      async (job) => {
        record(job.data.id as string, job.data.at as string);
        check();
      },
      { connection, concurrency: 50 },
    );
    await worker.waitUntilReady();
    stop = async () => {
      await worker.close();
      const queue = new Queue(args.key, { connection });
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    };
  } else {
    const redis = new Redis(args.redisUrl);
    await redis.xgroup("CREATE", args.key, "g", "$", "MKSTREAM");
    let running = true;
    const loop = (async () => {
      while (running) {
        const reply = (await redis.xreadgroup(
          "GROUP",
          "g",
          "c",
          "COUNT",
          "100",
          "BLOCK",
          "200",
          "STREAMS",
          args.key,
          ">",
        )) as [string, [string, string[]][]][] | null;
        const entries = reply?.[0]?.[1] ?? [];
        for (const [, fields] of entries) record(fields[1]!, fields[3]!);
        if (entries.length) await redis.xack(args.key, "g", ...entries.map(([id]) => id));
        check();
      }
    })();
    stop = async () => {
      running = false;
      await loop;
      await redis.del(args.key);
      redis.disconnect();
    };
  }
  console.log(`READY ${JSON.stringify({ pid: String(process.pid) })}`);
  await done;
  clearTimeout(timer);
  await stop();
  console.log(
    `RESULT ${JSON.stringify({ received: seen.size, duplicates, p50: percentile(latencies, 50), p99: percentile(latencies, 99) })}`,
  );
}

await (args.role === "producer" ? produce() : consume());
process.exit(0);
