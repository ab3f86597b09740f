import {
  type RobotClientFrame,
  RobotCloseCode,
  RobotFramesResponse,
  RobotPollResponse,
  RobotServerFrame,
} from "@perseus/contracts";
import WebSocket from "ws";
import type { Logger } from "../log.js";
import type { TokenSource } from "./credential.js";

export type TransportKind = "ws" | "poll";

export type TransportHandlers = {
  onFrame(frame: RobotServerFrame): void;
  /** Called once, whoever closed. 1006: the connection broke without a close frame. */
  onClose(code: number, reason: string): void;
};

export type Transport = {
  readonly kind: TransportKind;
  send(frame: RobotClientFrame): void;
  close(code?: number, reason?: string): void;
};

/** The transport could not be established. `unauthorized`: the token was refused (HTTP 401/403). */
export class ConnectError extends Error {
  override name = "ConnectError";
  constructor(
    message: string,
    readonly unauthorized: boolean,
  ) {
    super(message);
  }
}

/** The server ended a long-poll session (HTTP 410 with x-perseus-close-code, or the session is unknown). */
class SessionClosed extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Joins a platform base URL (which may carry a path prefix) and an absolute API path. */
export function platformUrl(base: string, path: string, protocol?: "ws"): string {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}${path}`;
  url.search = "";
  if (protocol === "ws") url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

export const WS_PATH = "/api/dispatch/robot/v1/ws";
export const POLL_PATH = "/api/dispatch/robot/v1/poll";
export const FRAMES_PATH = "/api/dispatch/robot/v1/frames";

function parseServerFrame(raw: unknown, log: Logger): RobotServerFrame | null {
  const parsed = RobotServerFrame.safeParse(raw);
  if (parsed.success) return parsed.data;
  // A newer server may send frame types we do not know: ignore them rather than disconnect.
  log.debug("ignoring an unrecognised server frame", { type: (raw as { type?: unknown })?.type });
  return null;
}

export function connectWebSocket(options: {
  baseUrl: string;
  token: string;
  handlers: TransportHandlers;
  log: Logger;
  openTimeoutMs?: number;
}): Promise<Transport> {
  const { handlers, log } = options;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(platformUrl(options.baseUrl, WS_PATH, "ws"), {
      headers: { authorization: `Bearer ${options.token}` },
      handshakeTimeout: options.openTimeoutMs ?? 15_000,
      maxPayload: 16 * 1024 * 1024,
    });
    let opened = false;
    let closed = false;
    const fail = (error: ConnectError) => {
      if (opened) return;
      closed = true;
      socket.removeAllListeners();
      socket.on("error", () => {});
      socket.terminate();
      reject(error);
    };
    socket.on("unexpected-response", (_request, response) => {
      const status = response.statusCode ?? 0;
      response.resume();
      fail(
        new ConnectError(`WebSocket upgrade refused with HTTP ${status}`, status === 401 || status === 403),
      );
    });
    socket.on("error", (error) => {
      if (!opened) fail(new ConnectError(`WebSocket connection failed: ${error.message}`, false));
      else log.debug("websocket error", { error: error.message });
    });
    socket.on("message", (data, isBinary) => {
      if (isBinary) return;
      let raw: unknown;
      try {
        raw = JSON.parse(data.toString());
      } catch {
        log.warn("server sent a frame that is not JSON");
        return;
      }
      const frame = parseServerFrame(raw, log);
      if (frame) handlers.onFrame(frame);
    });
    socket.on("close", (code, reason) => {
      if (!opened || closed) return;
      closed = true;
      handlers.onClose(code, reason.toString());
    });
    socket.on("open", () => {
      opened = true;
      resolve({
        kind: "ws",
        send(frame) {
          if (socket.readyState !== WebSocket.OPEN) throw new Error("connection is not open");
          socket.send(JSON.stringify(frame));
        },
        close(code = RobotCloseCode.normal, reason = "") {
          if (socket.readyState === WebSocket.OPEN) socket.close(code, reason);
          else socket.terminate();
          // A peer that never answers the close frame must not keep us waiting.
          setTimeout(() => {
            if (!closed) socket.terminate();
          }, 3_000).unref();
        },
      });
    });
  });
}

/**
 * The long-poll fallback: `POST /poll` waits for server frames from a cursor, `POST /frames`
 * sends ours (answered with their ack/error frames at once). Same frames, same semantics;
 * the token is fetched for every request, so it is refreshed as it ages.
 */
export async function connectLongPoll(options: {
  baseUrl: string;
  tokens: TokenSource;
  handlers: TransportHandlers;
  log: Logger;
  fetchImpl?: typeof fetch;
  waitMs?: number;
}): Promise<Transport> {
  const { handlers, log } = options;
  const doFetch = options.fetchImpl ?? fetch;
  const stop = new AbortController();
  let closed = false;
  let sessionKnown = false;

  const post = async (path: string, body: unknown, timeoutMs: number) => {
    const { token } = await options.tokens.get();
    const response = await doFetch(platformUrl(options.baseUrl, path), {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.any([stop.signal, AbortSignal.timeout(timeoutMs)]),
    });
    const text = await response.text();
    if (response.status === 401 || response.status === 403)
      throw new ConnectError(`HTTP ${response.status}`, true);
    // A closed session says why, with the close code a WebSocket would have received.
    const closeCode = Number(response.headers.get("x-perseus-close-code") ?? Number.NaN);
    if (Number.isInteger(closeCode)) throw new SessionClosed(closeCode, text.slice(0, 200));
    if (response.status === 404 && sessionKnown)
      throw new SessionClosed(RobotCloseCode.serviceRestart, "poll session unknown (server restarted?)");
    if (!response.ok) throw new ConnectError(`HTTP ${response.status}: ${text.slice(0, 200)}`, false);
    return JSON.parse(text) as unknown;
  };

  const first = RobotPollResponse.parse(await post(POLL_PATH, { cursor: 0, waitMs: 0 }, 15_000));
  sessionKnown = true;
  const sessionId = first.sessionId;
  let cursor = first.cursor;

  const finish = (code: number, reason: string) => {
    if (closed) return;
    closed = true;
    stop.abort();
    handlers.onClose(code, reason);
  };
  const deliver = (frames: unknown[]) => {
    for (const raw of frames) {
      const frame = parseServerFrame(raw, log);
      if (frame && !closed) handlers.onFrame(frame);
    }
  };
  const failure = (error: unknown) => {
    if (error instanceof SessionClosed) return finish(error.code, error.message);
    if (error instanceof ConnectError && error.unauthorized)
      return finish(RobotCloseCode.unauthorized, error.message);
    finish(1006, (error as Error).message);
  };
  deliver(first.frames);

  const waitMs = options.waitMs ?? 25_000;
  void (async () => {
    let failures = 0;
    while (!closed) {
      try {
        const body = RobotPollResponse.parse(
          await post(POLL_PATH, { sessionId, cursor, waitMs }, waitMs + 15_000),
        );
        if (body.sessionId !== sessionId)
          return finish(RobotCloseCode.serviceRestart, "poll session was replaced");
        cursor = body.cursor;
        failures = 0;
        deliver(body.frames);
      } catch (error) {
        if (closed) return;
        const isFinal =
          error instanceof SessionClosed || (error instanceof ConnectError && error.unauthorized);
        if (isFinal || ++failures >= 3) return failure(error);
        await new Promise((r) => setTimeout(r, 500 * failures));
      }
    }
  })();

  // Frames sent in the same tick travel in one request, in order.
  const queue: RobotClientFrame[] = [];
  let sending: Promise<void> = Promise.resolve();
  const flush = () => {
    const batch = queue.splice(0, 100);
    if (batch.length === 0) return;
    sending = sending.then(async () => {
      if (closed) return;
      try {
        const body = RobotFramesResponse.parse(await post(FRAMES_PATH, { sessionId, frames: batch }, 30_000));
        deliver(body.frames);
      } catch (error) {
        failure(error);
      }
    });
    if (queue.length) flush();
  };

  return {
    kind: "poll",
    send(frame) {
      if (closed) throw new Error("poll session is closed");
      queue.push(frame);
      if (queue.length === 1) queueMicrotask(flush);
    },
    close(code = RobotCloseCode.normal, reason = "") {
      // Let frames already queued (a release, say) go out before the session is dropped.
      flush();
      void sending.finally(() => finish(code, reason));
    },
  };
}
