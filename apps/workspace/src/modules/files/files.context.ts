import { createEvent, enqueueEvents } from "@perseus/bus";
import type { WorkspaceLayer } from "@perseus/contracts";
import { type Db, pgErrorCode, schema, type Tx, withTenant } from "@perseus/db";
import { type Actor, ConflictError } from "@perseus/kit";
import type { FastifyBaseLogger } from "fastify";
import type { StorageDriver } from "../../storage/driver.js";
import type { LayerRef } from "./files.access.js";
import { isObjectReferenced, lockObject } from "./files.repo.js";

/** What every files service call carries: whose data, who acts, and where the request came from. */
export type FilesContext = { tenantId: string; actor: Actor; requestId: string; ip: string };

export type FilesLimits = {
  maxFileBytes: number;
  defaultQuotaBytes: number;
  /** Versions kept per file (older ones are pruned at each write). */
  maxVersions: number;
  /** Entries per layer a listing reads at most. */
  listLimit: number;
  uploadIdleTimeoutMs: number;
  uploadTotalTimeoutMs: number;
};

export type FilesDeps = { db: Db; storage: StorageDriver; limits: FilesLimits; log: FastifyBaseLogger };

/**
 * A tenant transaction whose lock conflicts (deadlock, serialisation failure) answer 409
 * "retry" instead of a 500: two clients racing on one tree is their conflict, not our bug.
 */
export async function inTenant<T>(db: Db, ctx: { tenantId: string }, fn: (tx: Tx) => Promise<T>): Promise<T> {
  try {
    return await withTenant(db, { tenantId: ctx.tenantId }, fn);
  } catch (error) {
    const code = pgErrorCode(error);
    if (code === "40P01" || code === "40001")
      throw new ConflictError("a concurrent change got in the way; retry");
    throw error;
  }
}

export const actorRef = (actor: Actor): { type: string; id: string | null } => {
  switch (actor.type) {
    case "user":
      return { type: "user", id: actor.userId };
    case "robot":
      return { type: "robot", id: actor.robotId };
    case "api_key":
      return { type: "api_key", id: actor.keyId };
  }
};

export type FileChange = "created" | "updated" | "deleted" | "moved";

/** The audit row and the `file.changed` event of one mutation, written in its transaction. */
export async function recordChange(
  tx: Tx,
  ctx: FilesContext,
  action: string,
  ref: LayerRef,
  changes: { path: string; change: FileChange; etag: string | null }[],
  data: Record<string, unknown> = {},
): Promise<void> {
  const actor = actorRef(ctx.actor);
  const [first] = changes;
  await tx.insert(schema.auditEvents).values({
    tenantId: ctx.tenantId,
    actorType: actor.type,
    actorId: actor.id,
    action,
    targetType: "workspace_entry",
    targetId: `${ref.layer}:${ref.layerId}:${first?.path ?? ""}`,
    ip: ctx.ip,
    requestId: ctx.requestId,
    data: { ...data, changes },
  });
  await enqueueEvents(
    tx,
    changes.map((change) =>
      createEvent("file.changed", ctx.tenantId, {
        layer: ref.layer as WorkspaceLayer,
        layerId: ref.layerId,
        path: change.path,
        change: change.change,
        etag: change.etag,
      }),
    ),
  );
}

/**
 * Removes objects no kept version references any more. Runs after the transaction that
 * dropped the references, under the object's advisory lock, so a concurrent writer of the
 * same content either finished first (and is seen) or runs after (and re-creates it).
 */
export async function collectObjects(
  deps: FilesDeps,
  tenantId: string,
  shas: Iterable<string>,
): Promise<void> {
  for (const sha256 of new Set(shas)) {
    try {
      await withTenant(deps.db, { tenantId }, async (tx) => {
        await lockObject(tx, tenantId, sha256);
        if (!(await isObjectReferenced(tx, sha256))) await deps.storage.remove(tenantId, sha256);
      });
    } catch (error) {
      deps.log.warn({ err: error, sha256 }, "could not collect an unreferenced object");
    }
  }
}
