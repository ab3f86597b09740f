import { type DbOrTx, schema } from "@perseus/db";
import { and, desc, eq, inArray, lte, or, sql } from "drizzle-orm";
import type { LayerRef } from "./files.access.js";
import type { LayerEntry } from "./merge.js";

const entries = schema.workspaceEntries;
const versions = schema.workspaceVersions;
const usage = schema.workspaceUsage;

export type EntryRow = typeof entries.$inferSelect;
export type EntryInsert = typeof entries.$inferInsert;
export type VersionRow = typeof versions.$inferSelect;

const inLayer = (ref: LayerRef) => and(eq(entries.layer, ref.layer), eq(entries.layerId, ref.layerId));
const under = (dir: string) => sql`starts_with(${entries.path}, ${`${dir}/`})`;

export const asLayerEntry = (row: EntryRow): LayerEntry => ({
  ...row,
  layer: row.layer as LayerEntry["layer"],
  kind: row.kind as LayerEntry["kind"],
});

/**
 * Entries of each layer at `dir`, below it, and at its ancestors (the merge needs
 * ancestors to apply whiteouts), at most `limit` per layer.
 */
export async function listSubtrees(
  tx: DbOrTx,
  chain: readonly LayerRef[],
  dir: string,
  ancestors: readonly string[],
  limit: number,
): Promise<{ layers: LayerEntry[][]; truncated: boolean }> {
  let truncated = false;
  const layers: LayerEntry[][] = [];
  for (const ref of chain) {
    const scope = dir === "" ? undefined : or(inArray(entries.path, [...ancestors, dir]), under(dir));
    const rows = await tx
      .select()
      .from(entries)
      .where(and(inLayer(ref), scope))
      .orderBy(entries.path)
      .limit(limit + 1);
    if (rows.length > limit) {
      truncated = true;
      rows.length = limit;
    }
    layers.push(rows.map(asLayerEntry));
  }
  return { layers, truncated };
}

/** Entries at exactly these paths in each layer of the chain (nearest first). */
export async function findAtPaths(
  tx: DbOrTx,
  chain: readonly LayerRef[],
  paths: string[],
): Promise<LayerEntry[][]> {
  const rows = await tx
    .select()
    .from(entries)
    .where(and(or(...chain.map(inLayer)), inArray(entries.path, paths)));
  return chain.map((ref) =>
    rows.filter((row) => row.layer === ref.layer && row.layerId === ref.layerId).map(asLayerEntry),
  );
}

/** The entry at `path` in one layer, row-locked for the rest of the transaction when `lock`. */
export async function findEntry(
  tx: DbOrTx,
  ref: LayerRef,
  path: string,
  lock = false,
): Promise<EntryRow | null> {
  const query = tx
    .select()
    .from(entries)
    .where(and(inLayer(ref), eq(entries.path, path)));
  const [row] = lock ? await query.for("update") : await query;
  return row ?? null;
}

/** Entries at these paths in one layer, row-locked (share: they may not be changed or deleted meanwhile). */
export async function lockEntries(
  tx: DbOrTx,
  ref: LayerRef,
  paths: string[],
  strength: "update" | "share",
): Promise<EntryRow[]> {
  if (paths.length === 0) return [];
  return tx
    .select()
    .from(entries)
    .where(and(inLayer(ref), inArray(entries.path, paths)))
    .for(strength);
}

export async function hasChildren(tx: DbOrTx, ref: LayerRef, path: string): Promise<boolean> {
  const [row] = await tx
    .select({ path: entries.path })
    .from(entries)
    .where(and(inLayer(ref), under(path)))
    .limit(1);
  return Boolean(row);
}

/** Inserts an entry unless one exists at its path; returns it when inserted. */
export async function insertEntry(tx: DbOrTx, row: EntryInsert): Promise<EntryRow | null> {
  const [inserted] = await tx.insert(entries).values(row).onConflictDoNothing().returning();
  return inserted ?? null;
}

export async function updateEntry(tx: DbOrTx, ref: LayerRef, path: string, values: Partial<EntryInsert>) {
  const [row] = await tx
    .update(entries)
    .set({ ...values, updatedAt: sql`now()` })
    .where(and(inLayer(ref), eq(entries.path, path)))
    .returning();
  if (!row) throw new Error("updateEntry: entry vanished under its row lock");
  return row;
}

/** Deletes an entry and (for a directory) everything below it; returns what was deleted. */
export async function deleteSubtree(tx: DbOrTx, ref: LayerRef, path: string): Promise<EntryRow[]> {
  return tx
    .delete(entries)
    .where(and(inLayer(ref), or(eq(entries.path, path), under(path))))
    .returning();
}

/** Renames `from` (and everything below it) to `to` within one layer. */
export async function moveSubtree(tx: DbOrTx, ref: LayerRef, from: string, to: string): Promise<number> {
  const moved = await tx
    .update(entries)
    .set({
      path: sql`${to} || substr(${entries.path}, length(${from}) + 1)`,
      updatedAt: sql`now()`,
    })
    .where(and(inLayer(ref), or(eq(entries.path, from), under(from))))
    .returning({ path: entries.path });
  return moved.length;
}

// ---- versions --------------------------------------------------------------------

export async function insertVersion(tx: DbOrTx, row: typeof versions.$inferInsert) {
  await tx.insert(versions).values(row);
}

export async function listVersions(tx: DbOrTx, fileId: string): Promise<VersionRow[]> {
  return tx.select().from(versions).where(eq(versions.fileId, fileId)).orderBy(desc(versions.version));
}

export async function findVersion(tx: DbOrTx, fileId: string, version: number): Promise<VersionRow | null> {
  const [row] = await tx
    .select()
    .from(versions)
    .where(and(eq(versions.fileId, fileId), eq(versions.version, version)));
  return row ?? null;
}

/** Drops versions at or below `upTo` (pruning) or all of a file's versions; returns their sizes and objects. */
export async function deleteVersions(tx: DbOrTx, fileIds: string[], upTo?: number) {
  if (fileIds.length === 0) return [];
  return tx
    .delete(versions)
    .where(
      and(inArray(versions.fileId, fileIds), upTo === undefined ? undefined : lte(versions.version, upTo)),
    )
    .returning({ size: versions.size, sha256: versions.sha256 });
}

/** Whether any kept version of the tenant still points at an object. */
export async function isObjectReferenced(tx: DbOrTx, sha256: string): Promise<boolean> {
  const [row] = await tx
    .select({ v: versions.version })
    .from(versions)
    .where(eq(versions.sha256, sha256))
    .limit(1);
  return Boolean(row);
}

/** Serialises writers and the collector on one object of one tenant (until the transaction ends). */
export async function lockObject(tx: DbOrTx, tenantId: string, sha256: string) {
  await tx.execute(
    sql`select pg_advisory_xact_lock(hashtextextended(${`perseus.ws-object:${tenantId}:${sha256}`}, 0))`,
  );
}

// ---- usage -------------------------------------------------------------------------

export async function getUsage(
  tx: DbOrTx,
  tenantId: string,
): Promise<{ bytes: number; quotaBytes: number | null }> {
  const [row] = await tx.select().from(usage).where(eq(usage.tenantId, tenantId));
  return row ?? { bytes: 0, quotaBytes: null };
}

/**
 * Adds `delta` bytes to the tenant's usage if the result stays within its quota; one
 * statement under the row lock, so concurrent uploads cannot overshoot together.
 */
export async function addUsage(
  tx: DbOrTx,
  tenantId: string,
  delta: number,
  defaultQuota: number,
): Promise<boolean> {
  await tx.insert(usage).values({ tenantId }).onConflictDoNothing();
  const updated = await tx
    .update(usage)
    .set({ bytes: sql`${usage.bytes} + ${delta}` })
    .where(
      and(
        eq(usage.tenantId, tenantId),
        sql`(${delta} <= 0 or ${usage.bytes} + ${delta} <= coalesce(${usage.quotaBytes}, ${defaultQuota}))`,
      ),
    )
    .returning({ bytes: usage.bytes });
  return updated.length === 1;
}
