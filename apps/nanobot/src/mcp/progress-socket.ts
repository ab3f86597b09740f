import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProgressKind } from "@perseus/contracts";
import { z } from "zod";

const ProgressLine = z.object({ kind: ProgressKind.default("status"), data: z.string().min(1).max(65_536) });

/**
 * A per-task Unix socket through which tools the task runs (the nanobot's own MCP server
 * inside an agent CLI) post progress: it travels in the nanobot's connection, with the
 * lease's epoch and sequence, rather than through a second channel to the platform.
 */
export async function startProgressSocket(onProgress: (kind: ProgressKind, data: string) => void) {
  const path = join(tmpdir(), `pnb-${process.pid}-${randomBytes(6).toString("hex")}.sock`);
  const server = createServer((socket) => {
    let buffer = "";
    socket.setEncoding("utf8");
    socket.on("error", () => {});
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      if (buffer.length > 200_000) {
        socket.destroy();
        return;
      }
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        try {
          const parsed = ProgressLine.safeParse(JSON.parse(line));
          if (parsed.success) onProgress(parsed.data.kind, parsed.data.data);
        } catch {}
        newline = buffer.indexOf("\n");
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ path, readableAll: false, writableAll: false }, () => resolve());
  });
  return {
    path,
    async close() {
      server.close(); // connections still open end with the task's processes
      rmSync(path, { force: true });
    },
  };
}

/** Sends one progress line to a nanobot's task socket. */
export function postToProgressSocket(path: string, kind: ProgressKind, data: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path, () => {
      socket.end(`${JSON.stringify({ kind, data })}\n`, () => resolve());
    });
    socket.on("error", reject);
  });
}
