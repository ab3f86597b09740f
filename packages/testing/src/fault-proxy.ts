import net from "node:net";

/**
 * pass: forward both ways. delay: hold every chunk `delayMs` in each direction, order kept.
 * blackhole: read and discard, never forward, never close (a partitioned peer).
 * reset: RST every existing and new connection (a crashed or firewalled peer).
 */
export type FaultMode = "pass" | "delay" | "blackhole" | "reset";

export type FaultProxy = {
  /** Where clients connect: `${host}:${port}` (an IPv4 literal, usable in URLs as is). */
  readonly host: string;
  readonly port: number;
  readonly mode: FaultMode;
  readonly delayMs: number;
  /** Takes effect on existing connections too. */
  setMode(mode: FaultMode, options?: { delayMs?: number }): void;
  activeConnections(): number;
  close(): Promise<void>;
};

export type FaultProxyOptions = {
  target: { host: string; port: number };
  port?: number;
  host?: string;
};

// Bytes queued in one direction above which the sender is paused, and below which it resumes.
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;

/** End of stream travels through the queue so that it never overtakes delayed data. */
type Item = { at: number; chunk: Buffer } | { at: number; end: "fin" | "rst" };

/** One direction of a connection: source's bytes, queued, written to dest. */
class Pipe {
  queue: Item[] = [];
  queuedBytes = 0;
  timer: NodeJS.Timeout | undefined;
  waitingForDrain = false;

  constructor(
    readonly source: net.Socket,
    readonly dest: net.Socket,
    readonly proxy: { mode: FaultMode; delayMs: number },
  ) {
    dest.on("drain", () => {
      this.waitingForDrain = false;
      this.flush();
    });
  }

  push(item: Item) {
    if ("chunk" in item) {
      // Blackholed bytes are read and dropped, so the sender never sees backpressure either.
      if (this.proxy.mode === "blackhole") return;
      this.queuedBytes += item.chunk.length;
      if (this.queuedBytes > HIGH_WATER) this.source.pause();
    }
    this.queue.push(item);
    this.flush();
  }

  /** On a mode switch: blackhole drops held data (keeps ends), pass releases it now. */
  remode() {
    const { mode } = this.proxy;
    if (mode === "blackhole") {
      this.queue = this.queue.filter((item) => !("chunk" in item));
      this.queuedBytes = 0;
      this.source.resume();
    }
    if (mode === "pass") for (const item of this.queue) item.at = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flush();
  }

  flush() {
    if (this.proxy.mode === "blackhole" || this.proxy.mode === "reset") return;
    while (this.queue.length > 0 && !this.waitingForDrain) {
      if (this.dest.destroyed) {
        this.queue = [];
        this.queuedBytes = 0;
        break;
      }
      const head = this.queue[0]!;
      const wait = head.at - Date.now();
      if (wait > 0) {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.flush();
        }, wait);
        return;
      }
      this.queue.shift();
      if ("end" in head) {
        if (head.end === "rst") resetSocket(this.dest);
        else this.dest.end();
        continue;
      }
      this.queuedBytes -= head.chunk.length;
      // A socket still connecting buffers writes itself and reports "drain" once flushed.
      if (!this.dest.write(head.chunk)) this.waitingForDrain = true;
    }
    if (this.queuedBytes < LOW_WATER && !this.waitingForDrain && this.source.isPaused()) this.source.resume();
  }

  dispose() {
    clearTimeout(this.timer);
    this.queue = [];
  }
}

function resetSocket(socket: net.Socket) {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

export async function createFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const state = { mode: "pass" as FaultMode, delayMs: 0 };
  const connections = new Set<{ client: net.Socket; upstream: net.Socket; pipes: Pipe[] }>();

  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    client.on("error", () => {});
    if (state.mode === "reset") {
      resetSocket(client);
      return;
    }
    const upstream = net.connect({ ...options.target, allowHalfOpen: true, noDelay: true });
    upstream.on("error", () => {});
    const toUpstream = new Pipe(client, upstream, state);
    const toClient = new Pipe(upstream, client, state);
    const connection = { client, upstream, pipes: [toUpstream, toClient] };
    connections.add(connection);
    for (const [socket, pipe] of [
      [client, toUpstream],
      [upstream, toClient],
    ] as const) {
      let ended = false;
      socket.on("data", (chunk: Buffer) => pipe.push({ at: Date.now() + delayFor(), chunk }));
      socket.on("end", () => {
        ended = true;
        pipe.push({ at: Date.now() + delayFor(), end: "fin" });
      });
      // Closed without a FIN (reset, refused, destroyed): pass the abort on as an RST, in order.
      socket.on("close", () => {
        if (!ended) pipe.push({ at: Date.now() + delayFor(), end: "rst" });
        if (client.destroyed && upstream.destroyed) {
          connections.delete(connection);
          for (const p of connection.pipes) p.dispose();
        }
      });
    }
  });
  const delayFor = () => (state.mode === "delay" ? state.delayMs : 0);

  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", () => {});
  const port = (server.address() as net.AddressInfo).port;

  return {
    host,
    port,
    get mode() {
      return state.mode;
    },
    get delayMs() {
      return state.delayMs;
    },
    setMode(mode, { delayMs } = {}) {
      if (delayMs !== undefined) {
        if (!(delayMs >= 0)) throw new Error(`delayMs must be >= 0, got ${delayMs}`);
        state.delayMs = delayMs;
      }
      state.mode = mode;
      for (const connection of connections) {
        if (mode === "reset") {
          resetSocket(connection.client);
          resetSocket(connection.upstream);
        } else {
          for (const pipe of connection.pipes) pipe.remode();
        }
      }
    },
    activeConnections: () => connections.size,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const { client, upstream, pipes } of connections) {
        for (const pipe of pipes) pipe.dispose();
        client.destroy();
        upstream.destroy();
      }
      connections.clear();
      await closed;
    },
  };
}
