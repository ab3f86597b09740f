import { randomFillSync } from "node:crypto";

const ID_BYTES = 8;
// One call into the CSPRNG per 512 ids: a call per request cost more than the rest of
// the id handling together.
const pool = Buffer.allocUnsafe(ID_BYTES * 512);
let offset = pool.length;

/** A fresh random request id: 16 hex characters. */
export function newRequestId(): string {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString("hex", offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return id;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The caller's request id when it is sane (the edge forwards one), otherwise a new one. */
export function requestIdOf(incoming: string | string[] | undefined): string {
  return typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : newRequestId();
}
