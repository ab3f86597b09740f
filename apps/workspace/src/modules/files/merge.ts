import type { WorkspaceEntry, WorkspaceLayer } from "@perseus/contracts";
import { ancestorsOf, isWithin, nameOf, parentOf } from "./paths.js";

/** An entry row as the merge needs it (a subset of the table row). */
export type LayerEntry = {
  layer: WorkspaceLayer;
  layerId: string;
  path: string;
  kind: "file" | "dir" | "whiteout";
  fileId: string;
  version: number;
  etag: string;
  size: number;
  contentType: string | null;
  sha256: string | null;
  updatedAt: Date;
};

/**
 * Which entries a view shows. `layers` is nearest first (chatgroup, team, tenant). An
 * entry of layer i is visible when no nearer layer has an entry at the same path (the
 * nearest wins; a nearer whiteout hides it), and no nearer layer has a whiteout or a file
 * at one of its ancestors (a whiteout hides a whole subtree, a file shadows a directory).
 * Whiteouts themselves are never shown.
 */
export function visibleEntries(layers: readonly (readonly LayerEntry[])[]): LayerEntry[] {
  const nearest = new Map<string, number>();
  const blockedFrom = new Map<string, number>();
  layers.forEach((rows, index) => {
    for (const row of rows) {
      if (!nearest.has(row.path)) nearest.set(row.path, index);
      if ((row.kind === "whiteout" || row.kind === "file") && !blockedFrom.has(row.path))
        blockedFrom.set(row.path, index);
    }
  });
  const visible: LayerEntry[] = [];
  layers.forEach((rows, index) => {
    for (const row of rows) {
      if (row.kind === "whiteout" || nearest.get(row.path) !== index) continue;
      const hidden = ancestorsOf(row.path).some((ancestor) => {
        const blocker = blockedFrom.get(ancestor);
        return blocker !== undefined && blocker < index;
      });
      if (!hidden) visible.push(row);
    }
  });
  return visible;
}

/**
 * The listing of `dir` (children, or every descendant when recursive) from the entries
 * shown, with each directory's size being the bytes of the files shown below it.
 */
export function listDirectory(
  shown: readonly LayerEntry[],
  dir: string,
  recursive: boolean,
): WorkspaceEntry[] {
  const dirBytes = new Map<string, number>();
  for (const row of shown) {
    if (row.kind !== "file") continue;
    for (const ancestor of ancestorsOf(row.path))
      dirBytes.set(ancestor, (dirBytes.get(ancestor) ?? 0) + row.size);
  }
  return shown
    .filter((row) => row.path !== dir && isWithin(row.path, dir) && (recursive || parentOf(row.path) === dir))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((row) => toWireEntry(row, row.kind === "dir" ? (dirBytes.get(row.path) ?? 0) : row.size));
}

export function toWireEntry(row: LayerEntry, size = row.size): WorkspaceEntry {
  return {
    path: row.path,
    name: nameOf(row.path),
    kind: row.kind,
    size,
    contentType: row.kind === "file" ? row.contentType : null,
    etag: `"${row.etag}"`,
    version: row.version,
    origin: { layer: row.layer, layerId: row.layerId },
    updatedAt: row.updatedAt.toISOString(),
  };
}
