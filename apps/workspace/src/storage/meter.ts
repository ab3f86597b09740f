import { createHash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

/** Counts and hashes the bytes flowing through (every driver stages through one). */
export class MeterStream extends Transform {
  #hash = createHash("sha256");
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  digest(): string {
    return this.#hash.digest("hex");
  }
}
