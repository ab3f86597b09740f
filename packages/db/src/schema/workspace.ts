// Workspace service tables: file layers, entries and versions.
import { sql } from "drizzle-orm";
import { bigint, check, integer, pgTable, primaryKey, text, unique, uuid } from "drizzle-orm/pg-core";
import { createdAt, tenantId } from "./columns.js";

/**
 * One entry of one layer (tenant, team or chatgroup; `layerId` is that tenant's, team's
 * or chatgroup's id). `path` is the normalised relative path. A `whiteout` hides the
 * same path (and everything below it) inherited from the layers above.
 */
export const workspaceEntries = pgTable(
  "workspace_entries",
  {
    tenantId: tenantId(),
    layer: text().notNull(),
    layerId: uuid().notNull(),
    path: text().notNull(),
    kind: text().notNull(),
    /** Stable across moves and renames; versions hang off it. */
    fileId: uuid().notNull(),
    version: integer().notNull().default(1),
    /** Strong validator: changes with every write of this entry. */
    etag: text().notNull(),
    size: bigint({ mode: "number" }).notNull().default(0),
    contentType: text(),
    /** Content address of the bytes (files only). */
    sha256: text(),
    updatedByType: text().notNull(),
    updatedById: uuid(),
    createdAt: createdAt(),
    updatedAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.layer, t.layerId, t.path] }),
    unique().on(t.tenantId, t.fileId),
    check("workspace_entries_layer_check", sql`${t.layer} in ('tenant', 'team', 'chatgroup')`),
    check("workspace_entries_kind_check", sql`${t.kind} in ('file', 'dir', 'whiteout')`),
  ],
);

/** Every kept version of a file (the current one included); restore copies one forward. */
export const workspaceVersions = pgTable(
  "workspace_versions",
  {
    tenantId: tenantId(),
    fileId: uuid().notNull(),
    version: integer().notNull(),
    sha256: text().notNull(),
    size: bigint({ mode: "number" }).notNull(),
    contentType: text().notNull(),
    etag: text().notNull(),
    createdByType: text().notNull(),
    createdById: uuid(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.fileId, t.version] })],
);

/**
 * Bytes a tenant keeps (the sum of the sizes of all kept versions). Its row lock makes
 * the quota check and the increment one atomic step; `quotaBytes` overrides the default.
 */
export const workspaceUsage = pgTable("workspace_usage", {
  tenantId: tenantId().primaryKey(),
  bytes: bigint({ mode: "number" }).notNull().default(0),
  quotaBytes: bigint({ mode: "number" }),
});
