import { randomUUID } from "node:crypto";
import type { RobotClientFrame } from "@perseus/contracts";
import { afterEach, describe, expect, it } from "vitest";
import { Channel } from "../src/client/channel.js";
import { loadPty, Terminals } from "../src/client/terminals.js";
import type { Transport } from "../src/client/transport.js";
import { silentLogger } from "../src/log.js";
import { mergeSettings } from "../src/settings.js";
import { tempDir } from "./helper.js";

/** The platform side of a connection, as far as the terminal code sees it: the frames sent. */
function recordingChannel() {
  const sent: RobotClientFrame[] = [];
  const transport: Transport = { kind: "ws", send: (frame) => sent.push(frame), close: () => {} };
  const channel = new Channel(transport, { framesPerSecond: 1_000, maxFrameBytes: 1_000_000 });
  return { channel, sent };
}

const dirs: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of dirs.splice(0)) cleanup();
});

function terminals(options: { pty: Awaited<ReturnType<typeof loadPty>>["pty"]; enabled: boolean }) {
  const { dir, cleanup } = tempDir();
  dirs.push(cleanup);
  const { channel, sent } = recordingChannel();
  let n = 0;
  const manager = new Terminals({
    pty: options.pty,
    terminal: { enabled: options.enabled, shell: "/bin/sh" },
    settings: () => mergeSettings({}, {}, {}),
    sandboxRoot: dir,
    hostEnv: { PATH: process.env.PATH },
    channel: () => channel,
    nextId: (prefix) => `${prefix}-${++n}`,
    log: silentLogger,
  });
  return { manager, channel, sent };
}

describe("live terminals on the nanobot", () => {
  it("offers no terminals without node-pty or without the config flag, and refuses an open", async () => {
    for (const setup of [
      { pty: null, enabled: true },
      { pty: (await loadPty()).pty, enabled: false },
    ]) {
      const { manager, sent } = terminals(setup);
      expect(manager.isAvailable).toBe(false);
      const sessionId = randomUUID();
      await manager.open({ type: "terminal.open", sessionId, cols: 80, rows: 24, window: 65_536 });
      expect(sent).toEqual([
        expect.objectContaining({ type: "terminal.exit", sessionId, code: null, error: expect.any(String) }),
      ]);
    }
  });

  it("pauses a flooding program at the window until the platform acknowledges", async () => {
    const { pty } = await loadPty();
    if (!pty) throw new Error("node-pty is expected in this repository's test environment");
    const { manager, channel, sent } = terminals({ pty, enabled: true });
    const window = 32 * 1024;
    const sessionId = randomUUID();
    await manager.open({ type: "terminal.open", sessionId, cols: 80, rows: 24, window });
    const outputs = () => sent.filter((f) => f.type === "terminal.output");
    manager.input({ type: "terminal.input", sessionId, data: Buffer.from("yes\r").toString("base64") });
    // Nothing is acknowledged: output stops at the window (plus the chunk that crossed it).
    await expect
      .poll(() => manager.stats.maxUnackedBytes, { timeout: 30_000 })
      .toBeGreaterThanOrEqual(window);
    const before = outputs().length;
    const settledAt = manager.stats.maxUnackedBytes;
    expect(settledAt).toBeLessThanOrEqual(window + 16_384);
    // Acknowledge everything sent so far: the pty resumes and more output follows, still bounded.
    for (const frame of outputs()) channel.settle(frame.id, { result: {} });
    await expect.poll(() => outputs().length, { timeout: 30_000 }).toBeGreaterThan(before);
    expect(manager.stats.maxUnackedBytes).toBeLessThanOrEqual(window + 16_384);
    expect(manager.stats.maxPendingBytes).toBeLessThan(1024 * 1024);
    manager.close({ type: "terminal.close", sessionId, reason: "test" });
    expect(manager.size).toBe(0);
    channel.fail("done");
  }, 60_000);
});
