import { randomUUID } from "node:crypto";
import { appendFileSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type ManagedProcess, startProcess } from "@perseus/testing";
import { afterAll, describe, expect, it } from "vitest";
import { Outbox } from "../src/client/outbox.js";
import { APP_DIR, NODE_ARGS, tempDir } from "./helper.js";

const tmp = tempDir();
const children: ManagedProcess[] = [];
afterAll(async () => {
  for (const child of children) await child.stop();
  tmp.cleanup();
});

const progressFrame = (seq: number) => ({
  type: "progress" as const,
  id: `p-${seq}`,
  taskId: randomUUID(),
  epoch: 1,
  seq,
  kind: "stdout" as const,
  data: "x".repeat(200),
});

describe("durable outbox", () => {
  it("replays a result written before a SIGKILL exactly once, then forgets it after the ack", async () => {
    const path = join(tmp.dir, "killed", "outbox.jsonl");
    const key = `complete:${randomUUID()}`;
    const taskId = randomUUID();
    const child = await startProcess({
      name: "outbox-child",
      command: process.execPath,
      args: [...NODE_ARGS, join(APP_DIR, "test", "fixtures", "outbox-child.ts"), path, key, taskId],
      cwd: APP_DIR,
      ready: { line: /^written 1$/ },
    });
    children.push(child);
    expect((await child.kill("SIGKILL")).signal).toBe("SIGKILL");

    // The restarted nanobot: what is pending gets replayed to a receiver that dedupes by idempotency key.
    const restarted = await Outbox.open(path);
    const pending = restarted.pending();
    expect(pending.map((e) => e.key)).toEqual([key]);
    expect(pending[0]!.frame).toMatchObject({
      type: "complete",
      taskId,
      idempotencyKey: key,
      result: { text: "done" },
    });
    const received = new Map<string, number>();
    for (const entry of pending) {
      const frame = entry.frame as { idempotencyKey: string };
      received.set(frame.idempotencyKey, (received.get(frame.idempotencyKey) ?? 0) + 1);
      await restarted.ack(entry.key);
    }
    expect([...received.entries()]).toEqual([[key, 1]]);
    await restarted.close();

    const again = await Outbox.open(path);
    expect(again.pending()).toEqual([]);
    await again.close();
  });

  it("keeps puts idempotent by key and survives a line torn by a crash", async () => {
    const path = join(tmp.dir, "torn", "outbox.jsonl");
    const outbox = await Outbox.open(path);
    await outbox.put("a", progressFrame(1));
    await outbox.put("a", progressFrame(99));
    await outbox.put("b", progressFrame(2));
    await outbox.close();
    appendFileSync(path, '{"op":"put","key":"c","frame":{"type":"prog'); // torn mid-append
    const reopened = await Outbox.open(path);
    expect(reopened.pending().map((e) => [e.key, (e.frame as { seq: number }).seq])).toEqual([
      ["a", 1],
      ["b", 2],
    ]);
    await reopened.close();
  });

  it("compacts the file once enough entries are acknowledged", async () => {
    const path = join(tmp.dir, "compact", "outbox.jsonl");
    const outbox = await Outbox.open(path);
    for (let i = 1; i <= 100; i++) await outbox.put(`k${i}`, progressFrame(i));
    const full = statSync(path).size;
    for (let i = 1; i <= 99; i++) await outbox.ack(`k${i}`);
    // Rewritten at the 64th ack: 36 puts and the 35 acks after it remain, not 100 puts and 99 acks.
    expect(statSync(path).size).toBeLessThan(full / 2);
    expect(readFileSync(path, "utf8").trim().split("\n")).toHaveLength(36 + 35);
    expect(outbox.pending().map((e) => e.key)).toEqual(["k100"]);
    await outbox.close();
    const reopened = await Outbox.open(path);
    expect(reopened.pending().map((e) => e.key)).toEqual(["k100"]);
    expect(readFileSync(path, "utf8").trim().split("\n")).toHaveLength(1);
    await reopened.ack("k100");
    expect(statSync(path).size).toBe(0); // an empty outbox is an empty file
    await reopened.close();
  });
});
