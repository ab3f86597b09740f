import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createFaultProxy, type FaultProxy } from "../src/index.js";

let echo: net.Server;
let echoPort: number;
const echoSockets = new Set<net.Socket>();
let proxy: FaultProxy;
const clients = new Set<net.Socket>();

beforeAll(async () => {
  echo = net.createServer((socket) => {
    echoSockets.add(socket);
    socket.on("close", () => echoSockets.delete(socket));
    socket.on("error", () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
  echoPort = (echo.address() as net.AddressInfo).port;
  proxy = await createFaultProxy({ target: { host: "127.0.0.1", port: echoPort } });
});

afterEach(() => {
  proxy.setMode("pass");
  for (const socket of clients) socket.destroy();
  clients.clear();
});

afterAll(async () => {
  await proxy?.close();
  for (const socket of echoSockets) socket.destroy();
  await new Promise((resolve) => echo?.close(resolve));
});

/** A client of the proxy that collects what it receives and how it ended. */
async function connect() {
  const socket = net.connect({ host: proxy.host, port: proxy.port });
  clients.add(socket);
  const state = {
    received: Buffer.alloc(0),
    error: undefined as NodeJS.ErrnoException | undefined,
    closed: false,
  };
  socket.on("data", (chunk: Buffer) => {
    state.received = Buffer.concat([state.received, chunk]);
  });
  socket.on("error", (error) => {
    state.error = error;
  });
  socket.on("close", () => {
    state.closed = true;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return { socket, state };
}

/** Waits (bounded) until `predicate` holds; returns whether it did. */
async function until(predicate: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate() && Date.now() < deadline) await sleep(5);
  return predicate();
}

async function roundTrip(client: Awaited<ReturnType<typeof connect>>, text: string, timeoutMs = 2_000) {
  const before = client.state.received.length;
  const started = performance.now();
  client.socket.write(text);
  const ok = await until(() => client.state.received.length >= before + text.length, timeoutMs);
  return { ok, ms: performance.now() - started, text: client.state.received.subarray(before).toString() };
}

describe("fault proxy", () => {
  it("pass forwards both ways and counts connections", async () => {
    const client = await connect();
    expect(await roundTrip(client, "hello")).toMatchObject({ ok: true, text: "hello" });
    expect(proxy.activeConnections()).toBe(1);
    client.socket.end();
    expect(await until(() => proxy.activeConnections() === 0, 2_000)).toBe(true);
    expect(client.state.error).toBeUndefined();
  });

  it("pass and delay carry 8 MB intact, in order, under backpressure", async () => {
    for (const mode of ["pass", "delay"] as const) {
      proxy.setMode(mode, { delayMs: 20 });
      const client = await connect();
      client.socket.pause(); // a slow reader: the proxy must hold back rather than buffer it all
      const payload = randomBytes(8 * 1024 * 1024);
      client.socket.write(payload);
      await sleep(200);
      client.socket.resume();
      expect(await until(() => client.state.received.length >= payload.length, 20_000)).toBe(true);
      const digest = (b: Buffer) => createHash("sha256").update(b).digest("hex");
      expect(digest(client.state.received)).toBe(digest(payload));
    }
  });

  it("delay holds each direction for delayMs", async () => {
    const client = await connect();
    const direct = await roundTrip(client, "warm-up");
    proxy.setMode("delay", { delayMs: 150 });
    expect(proxy.delayMs).toBe(150);
    const delayed = await roundTrip(client, "slow");
    expect(delayed).toMatchObject({ ok: true, text: "slow" });
    // Both directions wait: at least 2 × 150 ms (timers may fire a millisecond early).
    expect(delayed.ms).toBeGreaterThanOrEqual(295);
    expect(delayed.ms).toBeLessThan(2_000);
    proxy.setMode("pass");
    expect((await roundTrip(client, "fast")).ms).toBeLessThan(direct.ms + 150);
  });

  it("blackhole stalls new and existing connections without closing them", async () => {
    const existing = await connect();
    expect((await roundTrip(existing, "before")).ok).toBe(true);
    proxy.setMode("blackhole");
    const fresh = await connect(); // the TCP handshake still succeeds, as with a dead peer
    const [a, b] = await Promise.all([roundTrip(existing, "lost-1", 400), roundTrip(fresh, "lost-2", 400)]);
    expect(a.ok || b.ok).toBe(false);
    expect(existing.state.closed || fresh.state.closed).toBe(false);
    expect(proxy.activeConnections()).toBe(2);

    // Healed: what was sent into the hole is gone, later bytes flow again.
    proxy.setMode("pass");
    expect(await roundTrip(existing, "after")).toMatchObject({ ok: true, text: "after" });
    expect(await roundTrip(fresh, "after")).toMatchObject({ ok: true, text: "after" });
  });

  it("reset sends RST to new and existing connections", async () => {
    const existing = await connect();
    expect((await roundTrip(existing, "before")).ok).toBe(true);
    proxy.setMode("reset");
    expect(await until(() => existing.state.closed, 2_000)).toBe(true);
    expect(existing.state.error?.code).toBe("ECONNRESET");

    const fresh = net.connect({ host: proxy.host, port: proxy.port });
    clients.add(fresh);
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      fresh.once("error", resolve);
      fresh.once("close", () => resolve(undefined));
      fresh.write("anyone?");
    });
    expect(error?.code).toBe("ECONNRESET");
    expect(await until(() => proxy.activeConnections() === 0, 2_000)).toBe(true);

    proxy.setMode("pass");
    expect((await roundTrip(await connect(), "alive")).ok).toBe(true);
  });

  it("switches modes on one live connection: pass → delay → blackhole → pass → reset", async () => {
    const client = await connect();
    expect((await roundTrip(client, "1")).ok).toBe(true);
    proxy.setMode("delay", { delayMs: 100 });
    client.socket.write("2");
    await sleep(20);
    proxy.setMode("pass"); // held bytes are released at once, in order, before new ones
    expect(await roundTrip(client, "3")).toMatchObject({ ok: true, text: "23" });
    proxy.setMode("blackhole");
    expect((await roundTrip(client, "4", 300)).ok).toBe(false);
    proxy.setMode("pass");
    expect(await roundTrip(client, "5")).toMatchObject({ ok: true, text: "5" });
    proxy.setMode("reset");
    expect(await until(() => client.state.closed, 2_000)).toBe(true);
    expect(client.state.error?.code).toBe("ECONNRESET");
  });

  it("an unreachable target resets the client and the proxy keeps running", async () => {
    const dead = await createFaultProxy({ target: { host: "127.0.0.1", port: echoPort === 1 ? 2 : 1 } });
    try {
      const socket = net.connect({ host: dead.host, port: dead.port });
      clients.add(socket);
      const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
        socket.once("error", resolve);
        socket.once("close", () => resolve(undefined));
      });
      expect(error?.code).toBe("ECONNRESET");
      expect(await until(() => dead.activeConnections() === 0, 2_000)).toBe(true);
    } finally {
      await dead.close();
    }
  });

  it("rejects a negative delay", () => {
    expect(() => proxy.setMode("delay", { delayMs: -1 })).toThrow(/delayMs/);
    expect(proxy.mode).toBe("pass");
  });
});
