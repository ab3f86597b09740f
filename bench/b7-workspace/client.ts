// B7 load process (pinned apart from the server): uploads then downloads files of each size,
// then many small files, over keep-alive HTTP, sampling the server's resident memory from
// /proc/<pid>/status every 20 ms meanwhile. Prints one JSON result.
import { Agent, request } from "node:http";
import { Readable } from "node:stream";
import { rssOf } from "../lib/service.js";

export type ClientArgs = {
  /** Upload/download URL with `{name}` where the file name goes. */
  url: string;
  headers: Record<string, string>;
  /** Headers of uploads only (e.g. If-None-Match: *). */
  uploadHeaders: Record<string, string>;
  pid: number;
  sizes: number[];
  small: { count: number; bytes: number; concurrency: number };
  runId: string;
};

const args = JSON.parse(process.argv[2]!) as ClientArgs;
const agent = new Agent({ keepAlive: true, maxSockets: args.small.concurrency });
const CHUNK = Buffer.alloc(1024 * 1024);
for (let i = 0; i < CHUNK.length; i++) CHUNK[i] = (i * 31 + 7) & 0xff;

let peakRss = 0;
const sampler = setInterval(() => {
  try {
    peakRss = Math.max(peakRss, rssOf(args.pid));
  } catch {}
}, 20);

/** `size` bytes of the pattern, streamed in 1 MB chunks; the first 8 bytes make each file unique. */
function body(size: number, tag: number): Readable {
  let left = size;
  let first = true;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(left, CHUNK.length);
      let chunk = CHUNK.subarray(0, n);
      if (first) {
        chunk = Buffer.from(chunk);
        chunk.writeUInt32BE(tag >>> 0, 0);
        first = false;
      }
      left -= n;
      this.push(chunk);
    },
  });
}

function send(method: "PUT" | "GET", name: string, size: number, tag: number): Promise<number> {
  const url = args.url.replace("{name}", encodeURIComponent(name));
  const headers =
    method === "PUT"
      ? {
          ...args.headers,
          ...args.uploadHeaders,
          "content-type": "application/octet-stream",
          "content-length": String(size),
        }
      : args.headers;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers }, (res) => {
      let received = 0;
      let text = "";
      res.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (res.statusCode !== 200 && text.length < 1000) text += chunk.toString();
      });
      res.on("end", () => {
        const ok = method === "PUT" ? res.statusCode === 201 : res.statusCode === 200 && received === size;
        if (ok) resolve(received);
        else reject(new Error(`${method} ${name}: ${res.statusCode} ${text.slice(0, 300)}`));
      });
    });
    req.on("error", reject);
    if (method === "PUT") body(size, tag).pipe(req);
    else req.end();
  });
}

async function timed<T>(fn: () => Promise<T>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

const baseRss = rssOf(args.pid);
// Warm-up: code paths, pools and token cache, not counted.
await send("PUT", `${args.runId}-warm`, 64 * 1024, 1);
await send("GET", `${args.runId}-warm`, 64 * 1024, 1);

const files = [];
for (const [i, size] of args.sizes.entries()) {
  const name = `${args.runId}-big-${i}`;
  peakRss = rssOf(args.pid);
  const up = await timed(() => send("PUT", name, size, i + 2));
  const download = await timed(() => send("GET", name, size, 0));
  files.push({ size, uploadMBps: size / 2 ** 20 / up, downloadMBps: size / 2 ** 20 / download, peakRss });
}

/** Refused small transfers are counted (with the error), not fatal: the rest still measure. */
const smallErrors: string[] = [];
async function many(method: "PUT" | "GET") {
  let next = 0;
  const worker = async () => {
    while (next < args.small.count) {
      const i = next++;
      await send(method, `${args.runId}-small-${i}`, args.small.bytes, 10_000 + i).catch((error) => {
        smallErrors.push(String((error as Error).message));
      });
    }
  };
  return timed(() => Promise.all(Array.from({ length: args.small.concurrency }, worker)));
}
peakRss = rssOf(args.pid);
const smallUp = await many("PUT");
const smallDown = await many("GET");
clearInterval(sampler);
agent.destroy();
console.log(
  JSON.stringify({
    baseRss,
    files,
    small: {
      uploadPerSecond: args.small.count / smallUp,
      downloadPerSecond: args.small.count / smallDown,
      peakRss,
      errors: smallErrors.length,
      firstErrors: smallErrors.slice(0, 3),
    },
  }),
);
