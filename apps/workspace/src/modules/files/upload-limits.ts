import { type Readable, Transform, type TransformCallback } from "node:stream";
import { AppError } from "@perseus/kit";

/** An upload that stalled (no bytes for the idle timeout) or ran past the total timeout. */
export class UploadTimeoutError extends AppError {
  override name = "UploadTimeoutError";
  constructor(message: string) {
    // There is no problem code for 408; the route answers 408 itself, this code is the fallback.
    super("bad_request", message);
  }
}

export type UploadLimits = {
  maxBytes: number;
  /** The error to fail with when the body grows past `maxBytes` (file limit or quota). */
  tooLarge: () => Error;
  idleTimeoutMs: number;
  totalTimeoutMs: number;
};

/**
 * Passes the upload through while enforcing the size limit and the timeouts, so a body
 * is never buffered whole and a slow or endless one is cut off as it happens.
 */
class LimitStream extends Transform {
  #bytes = 0;
  #idle: NodeJS.Timeout | undefined;
  #total: NodeJS.Timeout;

  constructor(private readonly limits: UploadLimits) {
    super();
    this.#total = setTimeout(
      () => this.destroy(new UploadTimeoutError("the upload took longer than allowed")),
      limits.totalTimeoutMs,
    );
    this.#armIdle();
  }

  #armIdle() {
    clearTimeout(this.#idle);
    this.#idle = setTimeout(
      () => this.destroy(new UploadTimeoutError("the upload stalled: no data received in time")),
      this.limits.idleTimeoutMs,
    );
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.limits.maxBytes) {
      callback(this.limits.tooLarge());
      return;
    }
    callback(null, chunk);
    // While our reader (storage) is behind, the silence is ours, not the client's: the idle
    // clock restarts only when the reader asks for more.
    if (this.readableLength >= this.readableHighWaterMark) clearTimeout(this.#idle);
    else this.#armIdle();
  }

  override _read(size: number): void {
    this.#armIdle();
    super._read(size);
  }

  override _flush(callback: TransformCallback): void {
    this.#clear();
    callback();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    this.#clear();
    callback(error);
  }

  #clear() {
    clearTimeout(this.#idle);
    clearTimeout(this.#total);
  }
}

/**
 * The request body wrapped in the limits. On a limit breach the body is unpiped, not
 * destroyed, so the socket stays open for the 413/408 answer (sent with Connection: close).
 * A client that goes away mid-upload fails the returned stream too.
 */
export function limitUpload(body: Readable & { complete?: boolean }, limits: UploadLimits): Readable {
  const limited = new LimitStream(limits);
  body.on("error", (error) => limited.destroy(error));
  body.on("close", () => {
    if (body.complete === false)
      limited.destroy(new Error("the client closed the upload before it completed"));
  });
  limited.on("error", () => body.unpipe(limited));
  body.pipe(limited);
  return limited;
}
