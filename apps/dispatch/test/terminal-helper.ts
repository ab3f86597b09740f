import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { TerminalServerFrame } from "@perseus/contracts";
import { type ManagedProcess, startProcess } from "@perseus/testing";
import { WebSocket } from "ws";

const nanobotDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "nanobot");

/**
 * The real nanobot (from its sources) connected with a robot access token; `terminal`
 * turns live terminals on in its config file (with /bin/sh as the shell).
 */
export async function startNanobot(options: {
  baseUrl: string;
  token: string;
  terminal: boolean;
}): Promise<{ process: ManagedProcess; dataDir: string; cleanup: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), "dispatch-terminal-"));
  const configPath = join(dataDir, "config.json");
  writeFileSync(
    configPath,
    JSON.stringify({ terminal: options.terminal ? { enabled: true, shell: "/bin/sh" } : { enabled: false } }),
    { mode: 0o600 },
  );
  const process = await startProcess({
    name: "nanobot",
    command: globalThis.process.execPath,
    args: [
      "--conditions=@perseus/source",
      "--import",
      "tsx",
      join(nanobotDir, "src", "cli.ts"),
      "connect",
      "--url",
      options.baseUrl,
      "--token",
      options.token,
      "--config",
      configPath,
      "--data-dir",
      join(dataDir, "state"),
      "--transport",
      "ws",
    ],
    cwd: nanobotDir,
    env: { PERSEUS_NANOBOT_LOG_LEVEL: "info", SHELL: "/bin/sh" },
    ready: { line: / connected / },
    readyTimeoutMs: 120_000,
  });
  return {
    process,
    dataDir,
    cleanup: async () => {
      await process.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A browser's attach socket: collects the server's frames and what the screen received. */
export class TerminalViewer {
  readonly frames: TerminalServerFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private listeners = new Set<() => void>();

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (data) => {
      const frame = TerminalServerFrame.parse(JSON.parse(data.toString()));
      this.frames.push(frame);
      for (const listener of this.listeners) listener();
    });
    this.closed = new Promise((resolve) =>
      socket.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  static async attach(baseUrl: string, ticket: { url: string; ticket: string }): Promise<TerminalViewer> {
    const url = `${baseUrl.replace(/^http/, "ws")}${ticket.url}?ticket=${encodeURIComponent(ticket.ticket)}`;
    const socket = new WebSocket(url);
    const viewer = new TerminalViewer(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
      socket.once("unexpected-response", (_request, response) =>
        reject(new Error(`attach refused: HTTP ${response.statusCode}`)),
      );
    });
    return viewer;
  }

  /** Everything painted so far: the snapshot and the output after it. */
  get screen(): string {
    return Buffer.concat(
      this.frames
        .filter((f) => f.type === "snapshot" || f.type === "output")
        .map((f) => Buffer.from((f as { data: string }).data, "base64")),
    ).toString("utf8");
  }

  get snapshot(): string | undefined {
    const frame = this.frames.find((f) => f.type === "snapshot");
    return frame && frame.type === "snapshot"
      ? Buffer.from(frame.data, "base64").toString("utf8")
      : undefined;
  }

  /** Resolves once `check` holds for the frames received (checked on each new frame). */
  until<T>(
    what: string,
    check: (viewer: TerminalViewer) => T | undefined | false,
    timeoutMs = 30_000,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const test = () => {
        const value = check(this);
        if (value !== undefined && value !== false) {
          cleanup();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(this.frames.slice(-5))}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(test);
      };
      this.listeners.add(test);
      test();
    });
  }

  type(text: string) {
    this.socket.send(JSON.stringify({ type: "input", data: Buffer.from(text).toString("base64") }));
  }

  send(frame: unknown) {
    this.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Stops reading from the socket (a browser tab that has stalled). */
  stall() {
    (this.socket as unknown as { _socket: { pause(): void } })._socket.pause();
  }

  unstall() {
    (this.socket as unknown as { _socket: { resume(): void } })._socket.resume();
  }

  async close() {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close();
    await this.closed;
  }
}
