import type { RobotClientFrame, RobotErrorCode } from "@perseus/contracts";
import type { Transport } from "./transport.js";

/** The server answered a frame with an `error` frame. */
export class FrameError extends Error {
  override name = "FrameError";
  constructor(
    readonly code: RobotErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** The connection ended (or the answer did not come in time) before the frame was acknowledged. */
export class NotAcknowledged extends Error {
  override name = "NotAcknowledged";
}

/** Error codes after which resending the same frame can never succeed. */
const PERMANENT: ReadonlySet<RobotErrorCode> = new Set([
  "invalid_frame",
  "unknown_frame",
  "stale_epoch",
  "lease_expired",
  "not_found",
  "conflict",
  "offer_expired",
]);
export const isPermanent = (error: unknown) => error instanceof FrameError && PERMANENT.has(error.code);

type Pending = {
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
};

const encoder = new TextEncoder();

/** Shrinks a frame to fit the policy's size limit: progress data, result text and error messages keep their tail. */
export function fitFrame(frame: RobotClientFrame, maxBytes: number): RobotClientFrame {
  const size = (f: RobotClientFrame) => encoder.encode(JSON.stringify(f)).length;
  let current = frame;
  for (let i = 0; i < 8 && size(current) > maxBytes; i++) {
    const excess = size(current) - maxBytes + 64;
    const cut = (text: string) =>
      `…${text.slice(Math.min(text.length, Math.max(excess, Math.ceil(text.length / 4))))}`;
    if (current.type === "progress") current = { ...current, data: cut(current.data) };
    else if (current.type === "complete")
      current = { ...current, result: { ...current.result, text: cut(current.result.text) } };
    else if (current.type === "fail")
      current = { ...current, error: { ...current.error, message: cut(current.error.message) } };
    else break;
  }
  return current;
}

/**
 * One connection's outgoing side: a frame-rate limiter (token bucket under the policy's
 * limit, so the gateway never has to close us for flooding), size fitting, and the
 * table of frames waiting for their ack or error.
 */
export class Channel {
  private readonly pending = new Map<string, Pending>();
  private readonly queue: RobotClientFrame[] = [];
  private tokens: number;
  private last = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly transport: Transport,
    private readonly limits: { framesPerSecond: number; maxFrameBytes: number },
  ) {
    this.tokens = Math.max(1, limits.framesPerSecond);
  }

  get kind() {
    return this.transport.kind;
  }

  get isOpen() {
    return !this.closed;
  }

  updateLimits(limits: { framesPerSecond: number; maxFrameBytes: number }) {
    Object.assign(this.limits, limits);
  }

  /** Sends without waiting for an answer (the ack, if any, is ignored). */
  send(frame: RobotClientFrame) {
    if (this.closed) return;
    this.queue.push(fitFrame(frame, this.limits.maxFrameBytes));
    this.pump();
  }

  /** Sends and resolves with the ack's result; rejects with FrameError or NotAcknowledged. */
  request(frame: RobotClientFrame, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new NotAcknowledged("not connected"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(frame.id);
        reject(new NotAcknowledged(`no answer to ${frame.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(frame.id, { resolve, reject, timer });
      this.send(frame);
    });
  }

  /** Routes an ack or error frame to its request; false when nobody waits for it. */
  settle(ref: string | null, outcome: { result: Record<string, unknown> } | { error: FrameError }): boolean {
    const waiter = ref === null ? undefined : this.pending.get(ref);
    if (!waiter || ref === null) return false;
    this.pending.delete(ref);
    clearTimeout(waiter.timer);
    if ("error" in outcome) waiter.reject(outcome.error);
    else waiter.resolve(outcome.result);
    return true;
  }

  /** Frames not yet handed to the transport are dropped: results live on in the outbox. */
  close(code?: number, reason?: string) {
    this.fail("connection closed");
    this.transport.close(code, reason);
  }

  fail(reason: string) {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.queue.length = 0;
    for (const [id, waiter] of this.pending) {
      clearTimeout(waiter.timer);
      this.pending.delete(id);
      waiter.reject(new NotAcknowledged(reason));
    }
  }

  private pump() {
    if (this.timer || this.closed) return;
    const rate = Math.max(1, this.limits.framesPerSecond);
    const now = Date.now();
    this.tokens = Math.min(rate, this.tokens + ((now - this.last) / 1_000) * rate);
    this.last = now;
    while (this.queue.length && this.tokens >= 1) {
      const frame = this.queue.shift()!;
      this.tokens -= 1;
      try {
        this.transport.send(frame);
      } catch {
        this.fail("connection lost while sending");
        return;
      }
    }
    if (this.queue.length) {
      this.timer = setTimeout(
        () => {
          this.timer = null;
          this.pump();
        },
        Math.ceil(1_000 / rate),
      );
    }
  }
}
