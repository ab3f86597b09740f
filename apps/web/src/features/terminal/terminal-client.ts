import {
  type TerminalClientFrame,
  TerminalServerFrame,
  type TerminalTicketResponse,
  terminalCloseCodes,
} from "@perseus/contracts";
import { reconnectDelay } from "../../api/backoff.js";
import type { SocketLike } from "../chat/realtime-client.js";
import { base64ToBytes, bytesToBase64, utf8 } from "./terminal-bytes.js";

export type { SocketLike };

export type TerminalConnectionState = "connecting" | "open" | "reconnecting" | "ended";

/** Where the bytes go: xterm in the console, a recorder in tests. */
export type TerminalScreen = {
  /** Forget everything shown: a snapshot repaints the whole screen. */
  reset(): void;
  write(bytes: Uint8Array): void;
};

/** How a session ended, as far as this viewer learned it. */
export type TerminalEnding = {
  exitCode: number | null | undefined;
  reason: string | null;
  /** The ticket request was refused for good (the session is gone or no longer ours to see). */
  error?: unknown;
};

export type TerminalClientOptions = {
  /** A fresh single-use ticket for every (re)attach (`POST /terminals/:id/tickets`). */
  getTicket: () => Promise<Pick<TerminalTicketResponse, "ticket" | "url">>;
  openSocket: (url: string) => SocketLike;
  screen: TerminalScreen;
  onState: (state: TerminalConnectionState) => void;
  /** Whether this viewer may type (the server's `role` frame). */
  onWriter: (writer: boolean) => void;
  onNotice?: (text: string) => void;
  onEnded: (ending: TerminalEnding) => void;
  /** A ticket error after which attaching again cannot help (e.g. 404, 409). */
  isFinalError?: (error: unknown) => boolean;
  setTimer?: (callback: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  random?: () => number;
};

const OPEN = 1;
const MAX_BACKOFF_MS = 15_000;
/** Window resizes come in bursts (dragging); the pty only needs the last size. */
export const RESIZE_DEBOUNCE_MS = 150;
/** Raw bytes per input frame: their base64 stays well under the frame's 64 KiB limit. */
const INPUT_CHUNK_BYTES = 32_768;

/**
 * The attach socket of one terminal session: paints the `snapshot` after a reset on
 * every (re)attach, writes `output`, follows the writer role, and after a dropped socket
 * attaches again with a new ticket and jittered backoff until the session ends.
 */
export function createTerminalClient(options: TerminalClientOptions) {
  const setTimer = options.setTimer ?? ((callback, ms) => setTimeout(callback, ms));
  const clearTimer =
    options.clearTimer ?? ((handle) => clearTimeout(handle as ReturnType<typeof setTimeout>));
  const random = options.random ?? Math.random;
  const isFinalError = options.isFinalError ?? (() => false);

  let socket: SocketLike | null = null;
  let failures = 0;
  let stopped = false;
  let ended = false;
  let writer = false;
  let exitCode: number | null | undefined;
  let retryTimer: unknown = null;
  let resizeTimer: unknown = null;
  let size: { cols: number; rows: number } | null = null;
  let sentSize: { cols: number; rows: number } | null = null;

  function send(frame: TerminalClientFrame): boolean {
    if (!socket || socket.readyState !== OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function setWriter(value: boolean) {
    writer = value;
    options.onWriter(value);
  }

  function end(ending: Omit<TerminalEnding, "exitCode">) {
    if (ended) return;
    ended = true;
    if (retryTimer !== null) clearTimer(retryTimer);
    retryTimer = null;
    setWriter(false);
    options.onState("ended");
    options.onEnded({ exitCode, ...ending });
  }

  function flushSize() {
    if (!writer || !size) return;
    if (sentSize && sentSize.cols === size.cols && sentSize.rows === size.rows) return;
    if (send({ type: "resize", cols: size.cols, rows: size.rows })) sentSize = size;
  }

  function scheduleReconnect() {
    if (stopped || ended) return;
    options.onState("reconnecting");
    const delay = reconnectDelay(failures, MAX_BACKOFF_MS, random);
    failures += 1;
    retryTimer = setTimer(() => {
      retryTimer = null;
      void connect();
    }, delay);
  }

  function handle(frame: TerminalServerFrame) {
    switch (frame.type) {
      case "snapshot": {
        // Attached for real (not only upgraded by a proxy): the backoff starts over.
        failures = 0;
        options.onState("open");
        options.screen.reset();
        const bytes = base64ToBytes(frame.data);
        if (bytes?.length) options.screen.write(bytes);
        return;
      }
      case "output": {
        const bytes = base64ToBytes(frame.data);
        if (bytes?.length) options.screen.write(bytes);
        return;
      }
      case "role":
        setWriter(frame.writer);
        // The window may have changed while this viewer could not resize the pty.
        sentSize = null;
        flushSize();
        return;
      case "notice":
        options.onNotice?.(frame.text);
        return;
      case "exit":
        exitCode = frame.code;
        return;
      case "closed":
        end({ reason: frame.reason });
        return;
    }
  }

  async function connect() {
    if (stopped || ended) return;
    options.onState(failures ? "reconnecting" : "connecting");
    let ticket: Pick<TerminalTicketResponse, "ticket" | "url">;
    try {
      ticket = await options.getTicket();
    } catch (error) {
      if (isFinalError(error)) end({ reason: null, error });
      else scheduleReconnect();
      return;
    }
    if (stopped || ended) return;
    const current = options.openSocket(`${ticket.url}?ticket=${encodeURIComponent(ticket.ticket)}`);
    socket = current;
    // "open" only once the snapshot arrives: an upgraded socket may still fail to attach.
    current.onopen = () => {};
    current.onmessage = (event) => {
      if (socket !== current || typeof event.data !== "string") return;
      let parsed: ReturnType<typeof TerminalServerFrame.safeParse>;
      try {
        parsed = TerminalServerFrame.safeParse(JSON.parse(event.data));
      } catch {
        return;
      }
      if (parsed.success) handle(parsed.data);
    };
    current.onerror = () => {};
    current.onclose = () => {
      if (socket !== current) return;
      socket = null;
      sentSize = null;
      if (writer) setWriter(false);
      // The session's end arrives as a `closed` frame; any other close is a lost socket.
      if (!stopped && !ended) scheduleReconnect();
    };
  }

  return {
    start() {
      if (stopped || ended || socket || retryTimer !== null) return;
      void connect();
    },
    /** Attach again now (e.g. the browser came back online) instead of waiting out the backoff. */
    wake() {
      if (stopped || ended || socket || retryTimer === null) return;
      clearTimer(retryTimer);
      retryTimer = null;
      void connect();
    },
    /** Keystrokes or a paste; refused (false) unless this viewer is the writer and attached. */
    input(data: string | Uint8Array): boolean {
      if (!writer || !socket || socket.readyState !== OPEN) return false;
      const bytes = typeof data === "string" ? utf8(data) : data;
      for (let offset = 0; offset < bytes.length; offset += INPUT_CHUNK_BYTES) {
        const chunk = bytes.subarray(offset, offset + INPUT_CHUNK_BYTES);
        if (!send({ type: "input", data: bytesToBase64(chunk) })) return false;
      }
      return true;
    },
    /** The screen's size in cells; sent (debounced) while this viewer is the writer. */
    resize(cols: number, rows: number) {
      size = { cols, rows };
      if (resizeTimer !== null) clearTimer(resizeTimer);
      resizeTimer = setTimer(() => {
        resizeTimer = null;
        flushSize();
      }, RESIZE_DEBOUNCE_MS);
    },
    get isWriter() {
      return writer;
    },
    stop() {
      stopped = true;
      for (const timer of [retryTimer, resizeTimer]) if (timer !== null) clearTimer(timer);
      retryTimer = null;
      resizeTimer = null;
      const current = socket;
      socket = null;
      current?.close(terminalCloseCodes.normal, "bye");
    },
  };
}

export type TerminalClient = ReturnType<typeof createTerminalClient>;
