import type { Readable } from "node:stream";

/** Bytes staged by an upload: hashed and durable, but not yet visible under their content address. */
export type StagedObject = {
  sha256: string;
  size: number;
  /** Moves the bytes to their content address (idempotent: the same content lands on the same key). */
  commit(): Promise<void>;
  /** Throws the staged bytes away (a refused precondition, a failed transaction). */
  discard(): Promise<void>;
};

/** An inclusive byte range of an object. */
export type ByteRange = { start: number; end: number };

/**
 * Where file bytes live. Objects are content-addressed per tenant (`tenantId` + sha256),
 * so equal content is stored once per tenant and nothing a client names ever becomes a
 * storage key or a filesystem path.
 */
export type StorageDriver = {
  readonly name: "local" | "s3";
  /** Streams `source` to a staging area while hashing it; rejects when the source fails. */
  stage(tenantId: string, source: Readable): Promise<StagedObject>;
  /** A stream of the object's bytes (or of one range of them). */
  read(tenantId: string, sha256: string, range?: ByteRange): Promise<Readable>;
  /** Removes an object; a missing one is not an error. */
  remove(tenantId: string, sha256: string): Promise<void>;
  /** Readiness probe. */
  check(): Promise<void>;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** Storage keys are built only from validated ids and hashes; anything else is a bug. */
export function assertObjectKey(tenantId: string, sha256: string): void {
  if (!UUID.test(tenantId)) throw new TypeError("storage: tenant id must be a lower-case UUID");
  if (!SHA256.test(sha256)) throw new TypeError("storage: object name must be a sha256 hex digest");
}

/** An object that should exist is missing or is not what the driver wrote (tampered storage). */
export class StorageIntegrityError extends Error {
  override name = "StorageIntegrityError";
}
