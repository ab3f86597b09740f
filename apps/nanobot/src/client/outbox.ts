import { mkdirSync } from "node:fs";
import { type FileHandle, open, readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { RobotClientFrame } from "@perseus/contracts";

export type OutboxEntry = { key: string; frame: RobotClientFrame; createdAt: number };

type Record_ = { op: "put"; key: string; frame: RobotClientFrame; at: number } | { op: "ack"; key: string };

/** Compact when this many acknowledged entries sit in the file (and they outnumber the pending ones). */
const COMPACT_AFTER = 64;

async function fsyncDir(dir: string) {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * The durable local outbox: result frames are appended (and fsynced) before they are
 * sent, and dropped only after the server's ack. It is an append-only JSON-lines file
 * of `put` and `ack` records, rewritten (compacted) atomically once enough is acked.
 * A torn last line from a crash is ignored. After a restart `pending()` is what to replay.
 */
export class Outbox {
  private readonly entries = new Map<string, OutboxEntry>();
  private handle: FileHandle | null = null;
  private acked = 0;
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(readonly path: string) {}

  static async open(path: string): Promise<Outbox> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const outbox = new Outbox(path);
    let text = "";
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      let record: Record_;
      try {
        record = JSON.parse(line) as Record_;
      } catch {
        continue; // a line torn by a crash mid-append
      }
      if (record.op === "put")
        outbox.entries.set(record.key, { key: record.key, frame: record.frame, createdAt: record.at });
      else if (record.op === "ack") outbox.entries.delete(record.key);
    }
    await outbox.rewrite(); // start from a compact file
    return outbox;
  }

  pending(): OutboxEntry[] {
    return [...this.entries.values()];
  }

  has(key: string) {
    return this.entries.has(key);
  }

  get size() {
    return this.entries.size;
  }

  /** Durably records a frame before it is sent. A key already pending is kept as it is. */
  put(key: string, frame: RobotClientFrame): Promise<void> {
    return this.serial(async () => {
      if (this.entries.has(key)) return;
      const at = Date.now();
      await this.append({ op: "put", key, frame, at });
      this.entries.set(key, { key, frame, createdAt: at });
    });
  }

  /** The server acknowledged the frame (or refused it for good): forget it. */
  ack(key: string): Promise<void> {
    return this.serial(async () => {
      if (!this.entries.has(key)) return;
      this.entries.delete(key);
      await this.append({ op: "ack", key });
      this.acked++;
      if (this.entries.size === 0 || (this.acked >= COMPACT_AFTER && this.acked > this.entries.size))
        await this.rewrite();
    });
  }

  /** Rewrites the file with only the pending entries (tmp file, fsync, rename, fsync dir). */
  compact(): Promise<void> {
    return this.serial(() => this.rewrite());
  }

  close(): Promise<void> {
    return this.serial(async () => {
      await this.handle?.close();
      this.handle = null;
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  private async append(record: Record_) {
    this.handle ??= await open(this.path, "a", 0o600);
    await this.handle.appendFile(`${JSON.stringify(record)}\n`, "utf8");
    await this.handle.sync();
  }

  private async rewrite() {
    await this.handle?.close();
    this.handle = null;
    const tmp = join(dirname(this.path), `.${Date.now()}.outbox.tmp`);
    const lines = this.pending().map((e) =>
      JSON.stringify({ op: "put", key: e.key, frame: e.frame, at: e.createdAt }),
    );
    const handle = await open(tmp, "w", 0o600);
    try {
      await handle.writeFile(lines.length ? `${lines.join("\n")}\n` : "", "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(tmp, this.path);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
    await fsyncDir(dirname(this.path));
    this.acked = 0;
  }
}
