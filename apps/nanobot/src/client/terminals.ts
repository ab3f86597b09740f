import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import {
  type RobotClientFrame,
  TERMINAL_CHUNK_BYTES,
  type TerminalCloseFrame,
  type TerminalInputFrame,
  type TerminalOpenFrame,
  type TerminalResizeFrame,
} from "@perseus/contracts";
import { buildChildEnv } from "../executors/common.js";
import type { Logger } from "../log.js";
import type { EffectiveSettings, TerminalSettings } from "../settings.js";
import { type Channel, FrameError } from "./channel.js";

/** The parts of node-pty we use (an optional dependency: loaded at run time, if installed). */
type Pty = {
  readonly pid: number;
  onData(listener: (data: Buffer | string) => void): unknown;
  onExit(listener: (event: { exitCode: number; signal?: number }) => void): unknown;
  write(data: string | Buffer): void;
  resize(cols: number, rows: number): void;
  pause(): void;
  resume(): void;
  kill(signal?: string): void;
};
type PtyModule = {
  spawn(
    file: string,
    args: string[],
    options: {
      name: string;
      cols: number;
      rows: number;
      cwd: string;
      env: Record<string, string>;
      encoding: null;
    },
  ): Pty;
};

/** Loads node-pty; null (with the reason) when it is not installed or did not build for this platform. */
export async function loadPty(): Promise<{ pty: PtyModule | null; reason: string | null }> {
  try {
    const name = "node-pty";
    const module = (await import(name)) as PtyModule & { default?: PtyModule };
    const pty = typeof module.spawn === "function" ? module : (module.default ?? null);
    return pty ? { pty, reason: null } : { pty: null, reason: "node-pty has no spawn()" };
  } catch (error) {
    return { pty: null, reason: (error as Error).message.split("\n")[0] ?? "cannot load node-pty" };
  }
}

/** Output kept on this side, at most, while the platform has not acknowledged enough (then the pty pauses). */
const MAX_PENDING_BYTES = 4 * TERMINAL_CHUNK_BYTES;
/** Output is gathered this long into one frame, so a chatty program does not send a frame per byte. */
const COALESCE_MS = 8;

/** Counters for operators and tests: how much output waited here at most. */
export type TerminalStats = { opened: number; maxPendingBytes: number; maxUnackedBytes: number };

type Session = {
  id: string;
  pty: Pty;
  window: number;
  seq: number;
  unacked: number;
  pending: Buffer[];
  pendingBytes: number;
  paused: boolean;
  flushTimer: NodeJS.Timeout | null;
  ended: boolean;
  bytesOut: number;
};

export type TerminalsDeps = {
  pty: PtyModule | null;
  settings: () => EffectiveSettings;
  terminal: TerminalSettings | undefined;
  sandboxRoot: string;
  hostEnv: Record<string, string | undefined>;
  channel: () => Channel | null;
  nextId: (prefix: string) => string;
  log: Logger;
};

/**
 * Live terminals (the `terminal` capability): a pty per session in this machine's terminal
 * directory, with the configured shell. Output flows under credit: at most the session's
 * window unacknowledged, beyond that the pty is paused (the program blocks on its writes).
 */
export class Terminals {
  private readonly sessions = new Map<string, Session>();
  readonly stats: TerminalStats = { opened: 0, maxPendingBytes: 0, maxUnackedBytes: 0 };

  constructor(private readonly deps: TerminalsDeps) {}

  /** Whether this machine offers terminals: allowed by its config and node-pty is there. */
  get isAvailable() {
    return this.deps.terminal?.enabled === true && this.deps.pty !== null;
  }

  get size() {
    return this.sessions.size;
  }

  private send(frame: RobotClientFrame): Promise<Record<string, unknown>> {
    const channel = this.deps.channel();
    if (!channel) return Promise.reject(new Error("not connected"));
    return channel.request(frame, 60_000);
  }

  async open(frame: TerminalOpenFrame) {
    const refuse = (error: string) => {
      this.deps.log.info("terminal refused", { sessionId: frame.sessionId, error });
      this.send({
        type: "terminal.exit",
        id: this.deps.nextId("tx"),
        sessionId: frame.sessionId,
        code: null,
        error,
      }).catch(() => {});
    };
    const config = this.deps.terminal;
    if (!config?.enabled) return refuse("terminals are not enabled in this machine's config");
    if (!this.deps.pty) return refuse("node-pty is not installed on this machine");
    if (this.sessions.has(frame.sessionId)) return;
    if (this.sessions.size >= (config.maxSessions ?? 4))
      return refuse("this machine has as many terminals open as it allows");
    const cwd = config.cwd ?? join(this.deps.sandboxRoot, "terminal");
    let pty: Pty;
    try {
      await mkdir(cwd, { recursive: true, mode: 0o700 });
      const shell = config.shell ?? this.deps.hostEnv.SHELL ?? "/bin/sh";
      const env = buildChildEnv(this.deps.hostEnv, this.deps.settings(), { TERM: "xterm-256color" });
      pty = this.deps.pty.spawn(shell, config.args ?? [], {
        name: "xterm-256color",
        cols: frame.cols,
        rows: frame.rows,
        cwd,
        env,
        encoding: null,
      });
    } catch (error) {
      return refuse(`cannot start the shell: ${(error as Error).message}`);
    }
    const session: Session = {
      id: frame.sessionId,
      pty,
      window: Math.max(TERMINAL_CHUNK_BYTES, frame.window),
      seq: 0,
      unacked: 0,
      pending: [],
      pendingBytes: 0,
      paused: false,
      flushTimer: null,
      ended: false,
      bytesOut: 0,
    };
    this.sessions.set(session.id, session);
    this.stats.opened++;
    this.deps.log.info("terminal opened", { sessionId: session.id, pid: pty.pid, cwd });
    pty.onData((data) => this.onOutput(session, typeof data === "string" ? Buffer.from(data) : data));
    pty.onExit(({ exitCode }) => this.onExit(session, exitCode));
    this.send({ type: "terminal.opened", id: this.deps.nextId("to"), sessionId: session.id }).catch((error) =>
      this.onSendFailed(session, error),
    );
  }

  input(frame: TerminalInputFrame) {
    const session = this.sessions.get(frame.sessionId);
    if (!session || session.ended) return;
    session.pty.write(Buffer.from(frame.data, "base64"));
  }

  resize(frame: TerminalResizeFrame) {
    const session = this.sessions.get(frame.sessionId);
    if (!session || session.ended) return;
    try {
      session.pty.resize(frame.cols, frame.rows);
    } catch {}
  }

  close(frame: TerminalCloseFrame) {
    const session = this.sessions.get(frame.sessionId);
    if (session) this.end(session, `closed by the platform (${frame.reason})`);
  }

  /** The connection went away: the platform ends its sessions, so the ptys end too. */
  closeAll(reason: string) {
    for (const session of [...this.sessions.values()]) this.end(session, reason);
  }

  private end(session: Session, reason: string) {
    if (session.ended) return;
    session.ended = true;
    this.sessions.delete(session.id);
    if (session.flushTimer) clearTimeout(session.flushTimer);
    try {
      session.pty.kill("SIGHUP");
    } catch {}
    this.deps.log.info("terminal ended", {
      sessionId: session.id,
      reason,
      bytesOut: session.bytesOut,
      maxPendingBytes: this.stats.maxPendingBytes,
      maxUnackedBytes: this.stats.maxUnackedBytes,
    });
  }

  private onOutput(session: Session, data: Buffer) {
    if (session.ended) return;
    session.pending.push(data);
    session.pendingBytes += data.length;
    this.stats.maxPendingBytes = Math.max(this.stats.maxPendingBytes, session.pendingBytes);
    if (session.pendingBytes >= MAX_PENDING_BYTES) this.pause(session);
    if (session.pendingBytes >= TERMINAL_CHUNK_BYTES) this.flush(session);
    else session.flushTimer ??= setTimeout(() => this.flush(session), COALESCE_MS);
  }

  private pause(session: Session) {
    if (session.paused) return;
    session.paused = true;
    session.pty.pause();
  }

  /** Sends what the window allows; pauses the pty while output waits, resumes it once it has drained. */
  private flush(session: Session, ignoreWindow = false) {
    if (session.flushTimer) clearTimeout(session.flushTimer);
    session.flushTimer = null;
    while (session.pendingBytes > 0 && (ignoreWindow || session.unacked < session.window)) {
      const all = Buffer.concat(session.pending);
      const chunk = all.subarray(0, TERMINAL_CHUNK_BYTES);
      const rest = all.subarray(chunk.length);
      session.pending = rest.length ? [rest] : [];
      session.pendingBytes = rest.length;
      session.unacked += chunk.length;
      session.bytesOut += chunk.length;
      this.stats.maxUnackedBytes = Math.max(this.stats.maxUnackedBytes, session.unacked);
      const size = chunk.length;
      this.send({
        type: "terminal.output",
        id: this.deps.nextId("tt"),
        sessionId: session.id,
        seq: ++session.seq,
        data: chunk.toString("base64"),
      })
        .then(() => {
          session.unacked -= size;
          if (!session.ended) this.flush(session);
        })
        .catch((error) => this.onSendFailed(session, error));
    }
    if (session.ended) return;
    if (session.pendingBytes === 0 && session.unacked < session.window && session.paused) {
      session.paused = false;
      session.pty.resume();
    } else if (session.pendingBytes > 0) this.pause(session);
  }

  private onExit(session: Session, exitCode: number) {
    if (session.ended) return;
    this.flush(session, true);
    this.send({
      type: "terminal.exit",
      id: this.deps.nextId("tx"),
      sessionId: session.id,
      code: exitCode,
    }).catch(() => {});
    this.end(session, `exited with ${exitCode}`);
  }

  /** The platform no longer knows the session (or the connection broke): stop the pty. */
  private onSendFailed(session: Session, error: unknown) {
    if (session.ended) return;
    const reason =
      error instanceof FrameError ? `refused by the platform: ${error.message}` : "connection lost";
    this.end(session, reason);
  }
}
