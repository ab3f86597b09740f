import type { WorkspaceTreeResponse, WorkspaceVersionsResponse } from "@perseus/contracts";
import type { DbOrTx } from "@perseus/db";
import { NotFoundError, ValidationError } from "@perseus/kit";
import { type LayerRef, resolveView } from "./files.access.js";
import { type FilesContext, type FilesDeps, inTenant } from "./files.context.js";
import {
  asLayerEntry,
  findAtPaths,
  findEntry,
  findVersion,
  listSubtrees,
  listVersions,
} from "./files.repo.js";
import { type LayerEntry, listDirectory, visibleEntries } from "./merge.js";
import { ancestorsOf, normaliseDirPath, normalisePath } from "./paths.js";

/** What a download needs: the bytes' address and the representation metadata. */
export type FileToSend = {
  path: string;
  sha256: string;
  size: number;
  contentType: string;
  etag: string;
  updatedAt: Date;
};

/** The entry a view shows at `path` (whiteouts and shadowing applied), or null. */
export async function resolveInView(
  tx: DbOrTx,
  chain: readonly LayerRef[],
  path: string,
): Promise<LayerEntry | null> {
  const layers = await findAtPaths(tx, chain, [...ancestorsOf(path), path]);
  return visibleEntries(layers).find((row) => row.path === path) ?? null;
}

const asFile = (row: LayerEntry | null): FileToSend => {
  if (!row || row.kind === "whiteout") throw new NotFoundError("file");
  if (row.kind !== "file" || !row.sha256)
    throw new ValidationError("this path is a directory; list it instead", [
      { location: "query", path: "path", message: "is a directory" },
    ]);
  return {
    path: row.path,
    sha256: row.sha256,
    size: row.size,
    contentType: row.contentType ?? "application/octet-stream",
    etag: row.etag,
    updatedAt: row.updatedAt,
  };
};

export function createFilesReader(deps: FilesDeps) {
  const { db, limits } = deps;

  return {
    /** Lists a directory of a view (`merged`) or of the layer alone (whiteouts shown). */
    async list(ctx: FilesContext, ref: LayerRef, rawDir: string, recursive: boolean, merged: boolean) {
      const dir = normaliseDirPath(rawDir);
      return inTenant(db, ctx, async (tx): Promise<WorkspaceTreeResponse> => {
        const view = await resolveView(tx, ctx.actor, ref);
        const chain = merged ? view.chain : [ref];
        const { layers, truncated } = await listSubtrees(
          tx,
          chain,
          dir.path,
          ancestorsOf(dir.path),
          limits.listLimit,
        );
        const shown = merged ? visibleEntries(layers) : (layers[0] ?? []);
        if (dir.path !== "" && !shown.some((row) => row.path === dir.path && row.kind === "dir"))
          throw new NotFoundError("directory");
        return { path: dir.path, entries: listDirectory(shown, dir.path, recursive), truncated };
      });
    },

    /** The file at `path` in a view (`merged`) or in the layer alone. */
    async file(ctx: FilesContext, ref: LayerRef, rawPath: string, merged: boolean): Promise<FileToSend> {
      const { path } = normalisePath(rawPath);
      return inTenant(db, ctx, async (tx) => {
        const view = await resolveView(tx, ctx.actor, ref);
        if (merged) return asFile(await resolveInView(tx, view.chain, path));
        const row = await findEntry(tx, ref, path);
        return asFile(row ? asLayerEntry(row) : null);
      });
    },

    async versions(ctx: FilesContext, ref: LayerRef, rawPath: string): Promise<WorkspaceVersionsResponse> {
      const { path } = normalisePath(rawPath);
      return inTenant(db, ctx, async (tx) => {
        await resolveView(tx, ctx.actor, ref);
        const entry = await findEntry(tx, ref, path);
        if (entry?.kind !== "file") throw new NotFoundError("file");
        const rows = await listVersions(tx, entry.fileId);
        return {
          path,
          items: rows.map((row) => ({
            version: row.version,
            etag: `"${row.etag}"`,
            size: row.size,
            contentType: row.contentType,
            createdBy: { type: row.createdByType, id: row.createdById },
            createdAt: row.createdAt.toISOString(),
            isCurrent: row.version === entry.version,
          })),
        };
      });
    },

    async version(ctx: FilesContext, ref: LayerRef, rawPath: string, version: number): Promise<FileToSend> {
      const { path } = normalisePath(rawPath);
      return inTenant(db, ctx, async (tx) => {
        await resolveView(tx, ctx.actor, ref);
        const entry = await findEntry(tx, ref, path);
        if (entry?.kind !== "file") throw new NotFoundError("file");
        const row = await findVersion(tx, entry.fileId, version);
        if (!row) throw new NotFoundError("version");
        return {
          path,
          sha256: row.sha256,
          size: row.size,
          contentType: row.contentType,
          etag: row.etag,
          updatedAt: row.createdAt,
        };
      });
    },
  };
}
export type FilesReader = ReturnType<typeof createFilesReader>;
