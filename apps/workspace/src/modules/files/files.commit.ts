import type { Tx } from "@perseus/db";
import { AppError, ConflictError, PreconditionFailedError, PreconditionRequiredError } from "@perseus/kit";
import { v7 as uuidv7 } from "uuid";
import { assertLeaseLive } from "../../auth/task-token.js";
import type { StagedObject } from "../../storage/driver.js";
import type { LayerRef } from "./files.access.js";
import { actorRef, type FilesContext, type FilesDeps, recordChange } from "./files.context.js";
import {
  addUsage,
  deleteVersions,
  type EntryRow,
  findEntry,
  insertEntry,
  insertVersion,
  lockEntries,
  lockObject,
  updateEntry,
} from "./files.repo.js";
import { type EtagList, ifMatchSatisfied, ifNoneMatchSatisfied, makeEtag, parseEtagList } from "./http.js";
import { ancestorsOf } from "./paths.js";

export type Preconditions = { ifMatch?: string | undefined; ifNoneMatch?: string | undefined };
export type ParsedPreconditions = {
  ifMatch: EtagList | null | undefined;
  ifNoneMatch: EtagList | null | undefined;
};
export type Content = { sha256: string; size: number; contentType: string };
export type Dropped = { size: number; sha256: string }[];

export const parsePreconditions = (pre: Preconditions): ParsedPreconditions => ({
  ifMatch: parseEtagList(pre.ifMatch),
  ifNoneMatch: parseEtagList(pre.ifNoneMatch),
});

/**
 * Every write is conditional: creating needs `If-None-Match: *`, replacing needs the
 * current ETag in `If-Match`. `current` is the file at the path (null when none, or a whiteout).
 */
export function checkWrite(current: EntryRow | null, pre: ParsedPreconditions): void {
  const etag = current?.etag ?? null;
  if (pre.ifNoneMatch !== undefined && !ifNoneMatchSatisfied(pre.ifNoneMatch, etag))
    throw new PreconditionFailedError("the file already exists (If-None-Match)");
  if (pre.ifMatch !== undefined && !ifMatchSatisfied(pre.ifMatch, etag))
    throw new PreconditionFailedError(
      current ? "the file has changed (ETag mismatch)" : "the file does not exist (If-Match)",
    );
  if (pre.ifMatch === undefined && (current || pre.ifNoneMatch === undefined))
    throw new PreconditionRequiredError(
      current
        ? "send If-Match with the file's current ETag to replace it"
        : "send If-None-Match: * to create a file (or If-Match to replace one)",
    );
}

/** Every change of an existing entry needs its current ETag in `If-Match`. */
export function checkChange(entry: EntryRow, pre: ParsedPreconditions): void {
  if (pre.ifMatch === undefined) throw new PreconditionRequiredError();
  if (!ifMatchSatisfied(pre.ifMatch, entry.etag)) throw new PreconditionFailedError();
}

export const tooLarge = (message: string) => new AppError("payload_too_large", message);

/** The shared steps of every mutation that writes a file version or creates entries. */
export function createCommitter(deps: Pick<FilesDeps, "limits">) {
  const { limits } = deps;

  const by = (ctx: FilesContext) => {
    const actor = actorRef(ctx.actor);
    return { updatedByType: actor.type, updatedById: actor.id };
  };

  const newEntry = (ctx: FilesContext, ref: LayerRef, path: string, kind: "dir" | "whiteout") => {
    const fileId = uuidv7();
    return {
      tenantId: ctx.tenantId,
      ...ref,
      path,
      kind,
      fileId,
      version: 1,
      etag: makeEtag(fileId, 1, kind),
      ...by(ctx),
    };
  };

  /** Creates missing parent directories; the parents are share-locked so a concurrent delete waits. */
  async function ensureParents(tx: Tx, ctx: FilesContext, ref: LayerRef, path: string) {
    const parents = ancestorsOf(path);
    for (const parent of parents) await insertEntry(tx, newEntry(ctx, ref, parent, "dir"));
    if (parents.length === 0) return;
    const rows = await lockEntries(tx, ref, parents, "share");
    for (const parent of parents) {
      const row = rows.find((r) => r.path === parent);
      if (!row) throw new ConflictError(`'${parent}' was removed concurrently; retry`);
      if (row.kind !== "dir")
        throw new ConflictError(
          `'${parent}' is a ${row.kind === "file" ? "file" : "whiteout"} in this layer`,
        );
    }
  }

  /** Puts `content` at `path` (create or new version) with audit row and event; the caller's transaction. */
  async function commitFile(
    tx: Tx,
    ctx: FilesContext,
    ref: LayerRef,
    path: string,
    content: Content,
    pre: ParsedPreconditions,
    action: string,
    staged?: StagedObject,
  ): Promise<{ row: EntryRow; created: boolean; dropped: Dropped }> {
    await assertLeaseLive(tx, ctx.actor);
    const existing = await findEntry(tx, ref, path, true);
    if (existing?.kind === "dir") throw new ConflictError("a directory exists at this path");
    const current = existing?.kind === "file" ? existing : null;
    checkWrite(current, pre);
    await ensureParents(tx, ctx, ref, path);
    if (!(await addUsage(tx, ctx.tenantId, content.size, limits.defaultQuotaBytes)))
      throw tooLarge("the tenant's workspace quota would be exceeded");
    const fileId = current?.fileId ?? uuidv7();
    const version = current ? current.version + 1 : 1;
    const values = {
      kind: "file",
      fileId,
      version,
      etag: makeEtag(fileId, version, content.sha256),
      size: content.size,
      contentType: content.contentType,
      sha256: content.sha256,
      ...by(ctx),
    };
    let row: EntryRow | null;
    if (existing) row = await updateEntry(tx, ref, path, values);
    else {
      row = await insertEntry(tx, { tenantId: ctx.tenantId, ...ref, path, ...values });
      if (!row) throw new PreconditionFailedError("the file was created concurrently");
    }
    await insertVersion(tx, {
      tenantId: ctx.tenantId,
      fileId,
      version,
      sha256: content.sha256,
      size: content.size,
      contentType: content.contentType,
      etag: values.etag,
      createdByType: values.updatedByType,
      createdById: values.updatedById,
    });
    const dropped = await deleteVersions(tx, [fileId], version - limits.maxVersions);
    const freed = dropped.reduce((sum, v) => sum + v.size, 0);
    if (freed > 0) await addUsage(tx, ctx.tenantId, -freed, limits.defaultQuotaBytes);
    await lockObject(tx, ctx.tenantId, content.sha256);
    if (staged) await staged.commit();
    const created = !current;
    await recordChange(
      tx,
      ctx,
      action,
      ref,
      [{ path, change: created ? "created" : "updated", etag: `"${row.etag}"` }],
      {
        size: content.size,
        version,
        sha256: content.sha256,
      },
    );
    return { row, created, dropped };
  }

  return { by, newEntry, ensureParents, commitFile };
}
