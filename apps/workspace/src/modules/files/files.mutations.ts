import type { Readable } from "node:stream";
import type { WorkspaceDeleteResponse, WorkspaceEntry } from "@perseus/contracts";
import { isUniqueViolation } from "@perseus/db";
import { ConflictError, NotFoundError, ValidationError } from "@perseus/kit";
import { assertLeaseLive } from "../../auth/task-token.js";
import { type LayerRef, resolveView, resolveWritableView } from "./files.access.js";
import {
  checkChange,
  checkWrite,
  createCommitter,
  type Dropped,
  type Preconditions,
  parsePreconditions,
  tooLarge,
} from "./files.commit.js";
import {
  collectObjects,
  type FilesContext,
  type FilesDeps,
  inTenant,
  recordChange,
} from "./files.context.js";
import {
  addUsage,
  asLayerEntry,
  deleteSubtree,
  deleteVersions,
  type EntryRow,
  findEntry,
  findVersion,
  getUsage,
  hasChildren,
  insertEntry,
  lockObject,
  moveSubtree,
} from "./files.repo.js";
import { resolveInView } from "./files.service.js";
import { contentTypeFor } from "./http.js";
import { toWireEntry } from "./merge.js";
import { isWithin, normalisePath } from "./paths.js";
import { limitUpload } from "./upload-limits.js";

export type { Preconditions };

export function createFilesWriter(deps: FilesDeps) {
  const { db, limits, storage } = deps;
  const quotaOf = (usage: { quotaBytes: number | null }) => usage.quotaBytes ?? limits.defaultQuotaBytes;
  const { newEntry, ensureParents, commitFile } = createCommitter(deps);

  const finish = async (ctx: FilesContext, result: { row: EntryRow; created: boolean; dropped: Dropped }) => {
    if (result.dropped.length)
      await collectObjects(
        deps,
        ctx.tenantId,
        result.dropped.map((d) => d.sha256),
      );
    return { entry: toWireEntry(asLayerEntry(result.row)), created: result.created };
  };

  return {
    /** Streams an upload to storage under the size, quota and time limits, then commits it conditionally. */
    async write(
      ctx: FilesContext,
      ref: LayerRef,
      rawPath: string,
      preconditions: Preconditions,
      upload: { body: Readable; contentLength: number | undefined; contentType: string | undefined },
    ): Promise<{ entry: WorkspaceEntry; created: boolean }> {
      const { path } = normalisePath(rawPath);
      const pre = parsePreconditions(preconditions);
      // Cheap checks first, so a doomed upload is refused before its bytes are read.
      const remaining = await inTenant(db, ctx, async (tx) => {
        await resolveWritableView(tx, ctx.actor, ref);
        const existing = await findEntry(tx, ref, path);
        if (existing?.kind === "dir") throw new ConflictError("a directory exists at this path");
        checkWrite(existing?.kind === "file" ? existing : null, pre);
        const usage = await getUsage(tx, ctx.tenantId);
        return quotaOf(usage) - usage.bytes;
      });
      const maxBytes = Math.max(0, Math.min(limits.maxFileBytes, remaining));
      const limitError = () =>
        tooLarge(
          maxBytes === limits.maxFileBytes
            ? `a file may have at most ${limits.maxFileBytes} bytes`
            : "the tenant's workspace quota would be exceeded",
        );
      if (upload.contentLength !== undefined && upload.contentLength > maxBytes) throw limitError();
      const staged = await storage.stage(
        ctx.tenantId,
        limitUpload(upload.body, {
          maxBytes,
          tooLarge: limitError,
          idleTimeoutMs: limits.uploadIdleTimeoutMs,
          totalTimeoutMs: limits.uploadTotalTimeoutMs,
        }),
      );
      const content = {
        sha256: staged.sha256,
        size: staged.size,
        contentType: contentTypeFor(path, upload.contentType),
      };
      try {
        // Access was checked before the body was read; commitFile re-checks a robot's lease (fencing).
        const result = await inTenant(db, ctx, (tx) =>
          commitFile(tx, ctx, ref, path, content, pre, "workspace.file.write", staged),
        );
        return await finish(ctx, result);
      } catch (error) {
        await staged.discard();
        throw error;
      }
    },

    /** Copies a file of a readable view into this layer (the bytes are shared, not duplicated). */
    async copy(
      ctx: FilesContext,
      ref: LayerRef,
      from: { layer: LayerRef["layer"]; layerId: string; path: string },
      rawTo: string,
      preconditions: Preconditions,
    ) {
      const source = normalisePath(from.path, "from.path", "body");
      const { path } = normalisePath(rawTo, "to", "body");
      const pre = parsePreconditions(preconditions);
      const result = await inTenant(db, ctx, async (tx) => {
        await resolveWritableView(tx, ctx.actor, ref);
        const sourceView = await resolveView(tx, ctx.actor, { layer: from.layer, layerId: from.layerId });
        const found = await resolveInView(tx, sourceView.chain, source.path);
        if (found?.kind !== "file" || !found.sha256) throw new NotFoundError("source file");
        // Lock the object, then re-read: a collector that already ran means the source is gone.
        await lockObject(tx, ctx.tenantId, found.sha256);
        const again = await resolveInView(tx, sourceView.chain, source.path);
        if (!again || again.sha256 !== found.sha256) throw new ConflictError("the source changed; retry");
        const content = {
          sha256: found.sha256,
          size: found.size,
          contentType: found.contentType ?? "application/octet-stream",
        };
        return commitFile(tx, ctx, ref, path, content, pre, "workspace.file.copy");
      });
      return finish(ctx, result);
    },

    /** Makes a kept version current again, as a new version. */
    async restore(
      ctx: FilesContext,
      ref: LayerRef,
      rawPath: string,
      version: number,
      preconditions: Preconditions,
    ) {
      const { path } = normalisePath(rawPath, "path", "body");
      const pre = parsePreconditions(preconditions);
      const result = await inTenant(db, ctx, async (tx) => {
        await resolveWritableView(tx, ctx.actor, ref);
        const entry = await findEntry(tx, ref, path, true);
        if (entry?.kind !== "file") throw new NotFoundError("file");
        checkChange(entry, pre);
        const kept = await findVersion(tx, entry.fileId, version);
        if (!kept) throw new NotFoundError("version");
        await lockObject(tx, ctx.tenantId, kept.sha256);
        if (!(await findVersion(tx, entry.fileId, version))) throw new NotFoundError("version");
        const content = { sha256: kept.sha256, size: kept.size, contentType: kept.contentType };
        return commitFile(tx, ctx, ref, path, content, pre, "workspace.file.restore");
      });
      return finish(ctx, result);
    },

    async mkdir(
      ctx: FilesContext,
      ref: LayerRef,
      rawPath: string,
    ): Promise<{ entry: WorkspaceEntry; created: boolean }> {
      const { path } = normalisePath(rawPath, "path", "body");
      return inTenant(db, ctx, async (tx) => {
        await resolveWritableView(tx, ctx.actor, ref);
        await assertLeaseLive(tx, ctx.actor);
        const existing = await findEntry(tx, ref, path, true);
        if (existing?.kind === "dir") return { entry: toWireEntry(asLayerEntry(existing)), created: false };
        if (existing) throw new ConflictError(`a ${existing.kind} exists at this path`);
        await ensureParents(tx, ctx, ref, path);
        const row = await insertEntry(tx, newEntry(ctx, ref, path, "dir"));
        if (!row) throw new ConflictError("the path was taken concurrently; retry");
        await recordChange(tx, ctx, "workspace.dir.create", ref, [
          { path, change: "created", etag: `"${row.etag}"` },
        ]);
        return { entry: toWireEntry(asLayerEntry(row)), created: true };
      });
    },

    /** Hides an inherited entry from this layer's view. */
    async whiteout(
      ctx: FilesContext,
      ref: LayerRef,
      rawPath: string,
    ): Promise<{ entry: WorkspaceEntry; created: boolean }> {
      const { path } = normalisePath(rawPath, "path", "body");
      return inTenant(db, ctx, async (tx) => {
        const view = await resolveWritableView(tx, ctx.actor, ref);
        if (ref.layer === "tenant")
          throw new ValidationError("the tenant layer inherits nothing to hide", [
            { location: "params", path: "layer", message: "must be team or chatgroup" },
          ]);
        await assertLeaseLive(tx, ctx.actor);
        const existing = await findEntry(tx, ref, path, true);
        if (existing?.kind === "whiteout")
          return { entry: toWireEntry(asLayerEntry(existing)), created: false };
        if (existing)
          throw new ConflictError(`this layer has its own ${existing.kind} here; delete it first`);
        if (!(await resolveInView(tx, view.chain.slice(1), path))) throw new NotFoundError("inherited entry");
        const row = await insertEntry(tx, newEntry(ctx, ref, path, "whiteout"));
        if (!row) throw new ConflictError("the path was taken concurrently; retry");
        await recordChange(tx, ctx, "workspace.whiteout.create", ref, [
          { path, change: "deleted", etag: null },
        ]);
        return { entry: toWireEntry(asLayerEntry(row)), created: true };
      });
    },

    async remove(
      ctx: FilesContext,
      ref: LayerRef,
      rawPath: string,
      recursive: boolean,
      preconditions: Preconditions,
    ): Promise<WorkspaceDeleteResponse> {
      const { path } = normalisePath(rawPath);
      const pre = parsePreconditions(preconditions);
      const { deleted, dropped } = await inTenant(db, ctx, async (tx) => {
        await resolveWritableView(tx, ctx.actor, ref);
        await assertLeaseLive(tx, ctx.actor);
        const entry = await findEntry(tx, ref, path, true);
        if (!entry) throw new NotFoundError("entry");
        checkChange(entry, pre);
        if (entry.kind === "dir" && !recursive && (await hasChildren(tx, ref, path)))
          throw new ConflictError("the directory is not empty; pass recursive=true");
        const rows = await deleteSubtree(tx, ref, path);
        const fileIds = rows.filter((row) => row.kind === "file").map((row) => row.fileId);
        const dropped = await deleteVersions(tx, fileIds);
        const freed = dropped.reduce((sum, v) => sum + v.size, 0);
        if (freed > 0) await addUsage(tx, ctx.tenantId, -freed, limits.defaultQuotaBytes);
        await recordChange(
          tx,
          ctx,
          "workspace.entry.delete",
          ref,
          // Removing a whiteout brings the inherited entry back into the view: an update.
          [{ path, change: entry.kind === "whiteout" ? "updated" : "deleted", etag: null }],
          {
            entries: rows.length,
            bytes: freed,
          },
        );
        return { deleted: rows.length, dropped };
      });
      await collectObjects(
        deps,
        ctx.tenantId,
        dropped.map((d) => d.sha256),
      );
      return { path, deleted };
    },

    /** Moves or renames an entry (a directory with everything below it) within one layer. */
    async move(
      ctx: FilesContext,
      ref: LayerRef,
      rawFrom: string,
      rawTo: string,
      preconditions: Preconditions,
    ): Promise<WorkspaceEntry> {
      const from = normalisePath(rawFrom, "from", "body").path;
      const to = normalisePath(rawTo, "to", "body").path;
      if (isWithin(to, from) || isWithin(from, to))
        throw new ValidationError(
          "cannot move an entry onto itself, into itself or onto one of its parents",
          [{ location: "body", path: "to", message: "overlaps the source" }],
        );
      const pre = parsePreconditions(preconditions);
      return inTenant(db, ctx, async (tx) => {
        await resolveWritableView(tx, ctx.actor, ref);
        await assertLeaseLive(tx, ctx.actor);
        const entry = await findEntry(tx, ref, from, true);
        if (!entry) throw new NotFoundError("entry");
        checkChange(entry, pre);
        const target = await findEntry(tx, ref, to, true);
        if (target && target.kind !== "whiteout")
          throw new ConflictError(`a ${target.kind} exists at the destination`);
        if (await hasChildren(tx, ref, to)) throw new ConflictError("the destination has entries below it");
        if (target) await deleteSubtree(tx, ref, to);
        await ensureParents(tx, ctx, ref, to);
        try {
          await moveSubtree(tx, ref, from, to);
        } catch (error) {
          if (isUniqueViolation(error))
            throw new ConflictError("the destination was taken concurrently; retry");
          throw error;
        }
        const moved = await findEntry(tx, ref, to);
        if (!moved) throw new Error("move: the moved entry is missing");
        await recordChange(tx, ctx, "workspace.entry.move", ref, [
          { path: from, change: "moved", etag: null },
          { path: to, change: "created", etag: `"${moved.etag}"` },
        ]);
        return toWireEntry(asLayerEntry(moved));
      });
    },
  };
}
export type FilesWriter = ReturnType<typeof createFilesWriter>;
