// Wire schemas of the workspace service: REST bodies, queries, responses and realtime frames.
import { z } from "zod";
import { Id, Timestamp } from "./common.js";
import { defineRoute } from "./routes.js";

/** The three layers of the shared drive; a chatgroup's view is chatgroup ⊕ team ⊕ tenant. */
export const WorkspaceLayer = z.enum(["tenant", "team", "chatgroup"]);
export type WorkspaceLayer = z.infer<typeof WorkspaceLayer>;

/** A layer: for `tenant` the id is the tenant's own id, else the team's or chatgroup's. */
export const WorkspaceLayerParams = z.object({ layer: WorkspaceLayer, layerId: Id });
export type WorkspaceLayerParams = z.infer<typeof WorkspaceLayerParams>;

/**
 * A relative path such as `docs/plan.md`. The server normalises it strictly (NFC) and
 * refuses NUL, control characters, backslashes, `.`/`..` segments (also percent-encoded
 * or as look-alike characters), absolute paths, empty segments and overlong names.
 */
export const WorkspacePath = z.string().min(1).max(4096).describe("relative path, e.g. docs/plan.md");

const Flag = z
  .enum(["true", "false", "1", "0"])
  .default("false")
  .transform((value) => value === "true" || value === "1");

export const WorkspaceEntryKind = z.enum(["file", "dir", "whiteout"]);
export type WorkspaceEntryKind = z.infer<typeof WorkspaceEntryKind>;

export const WorkspaceLayerRef = z.object({ layer: WorkspaceLayer, layerId: Id });
export type WorkspaceLayerRef = z.infer<typeof WorkspaceLayerRef>;

/** One entry of a listing; `origin` is the layer it comes from (the nearest one wins). */
export const WorkspaceEntry = z.object({
  path: z.string(),
  name: z.string(),
  kind: WorkspaceEntryKind,
  /** Bytes of a file; for a directory, the bytes of the files shown below it. */
  size: z.number().int().min(0),
  contentType: z.string().nullable(),
  etag: z.string(),
  version: z.number().int().min(1),
  origin: WorkspaceLayerRef,
  updatedAt: Timestamp,
});
export type WorkspaceEntry = z.infer<typeof WorkspaceEntry>;

export const WorkspaceTreeQuery = z.object({
  path: z.string().max(4096).default("").describe("directory to list; empty for the root"),
  recursive: Flag,
});
export type WorkspaceTreeQuery = z.infer<typeof WorkspaceTreeQuery>;

export const WorkspaceTreeResponse = z.object({
  path: z.string(),
  entries: z.array(WorkspaceEntry),
  /** True when the listing hit the server's entry limit. */
  truncated: z.boolean(),
});
export type WorkspaceTreeResponse = z.infer<typeof WorkspaceTreeResponse>;

export const WorkspacePathQuery = z.object({ path: WorkspacePath });
export type WorkspacePathQuery = z.infer<typeof WorkspacePathQuery>;

export const WorkspaceDeleteQuery = z.object({ path: WorkspacePath, recursive: Flag });
export type WorkspaceDeleteQuery = z.infer<typeof WorkspaceDeleteQuery>;

/** Conditional request headers: `If-Match` for overwrite/delete/move, `If-None-Match: *` for create. */
export const WorkspaceConditionalHeaders = z.looseObject({
  "if-match": z.string().max(2048).optional(),
  "if-none-match": z.string().max(2048).optional(),
});
export type WorkspaceConditionalHeaders = z.infer<typeof WorkspaceConditionalHeaders>;

export const WorkspaceMkdirBody = z.object({ path: WorkspacePath });
export type WorkspaceMkdirBody = z.infer<typeof WorkspaceMkdirBody>;

export const WorkspaceMoveBody = z.object({ from: WorkspacePath, to: WorkspacePath });
export type WorkspaceMoveBody = z.infer<typeof WorkspaceMoveBody>;

/** Copies a file from any view the caller may read (whiteouts apply) into this layer. */
export const WorkspaceCopyBody = z.object({
  from: z.object({ layer: WorkspaceLayer, layerId: Id, path: WorkspacePath }),
  to: WorkspacePath,
});
export type WorkspaceCopyBody = z.infer<typeof WorkspaceCopyBody>;

export const WorkspaceWhiteoutBody = z.object({ path: WorkspacePath });
export type WorkspaceWhiteoutBody = z.infer<typeof WorkspaceWhiteoutBody>;

export const WorkspaceDeleteResponse = z.object({ path: z.string(), deleted: z.number().int().min(0) });
export type WorkspaceDeleteResponse = z.infer<typeof WorkspaceDeleteResponse>;

export const WorkspaceFileVersion = z.object({
  version: z.number().int().min(1),
  etag: z.string(),
  size: z.number().int().min(0),
  contentType: z.string(),
  createdBy: z.object({ type: z.string(), id: Id.nullable() }),
  createdAt: Timestamp,
  isCurrent: z.boolean(),
});
export type WorkspaceFileVersion = z.infer<typeof WorkspaceFileVersion>;

export const WorkspaceVersionsResponse = z.object({ path: z.string(), items: z.array(WorkspaceFileVersion) });
export type WorkspaceVersionsResponse = z.infer<typeof WorkspaceVersionsResponse>;

export const WorkspaceVersionParams = WorkspaceLayerParams.extend({
  version: z.coerce.number().int().min(1).max(2_147_483_647),
});
export type WorkspaceVersionParams = z.infer<typeof WorkspaceVersionParams>;

export const WorkspaceRestoreBody = z.object({
  path: WorkspacePath,
  version: z.number().int().min(1).max(2_147_483_647),
});
export type WorkspaceRestoreBody = z.infer<typeof WorkspaceRestoreBody>;

/** File bytes (streamed; `Range`, `ETag` and `If-None-Match` apply). */
const FileBytes = z.unknown().describe("the file's bytes");

const tags = ["workspace"] as const;

/** The workspace REST API under `/api/workspace`. */
export const workspaceRoutes = {
  viewTree: defineRoute({
    method: "GET",
    path: "/views/:layer/:layerId/tree",
    summary: "List the effective view of a layer (merged with the layers above it)",
    tags,
    auth: "user-or-robot",
    params: WorkspaceLayerParams,
    query: WorkspaceTreeQuery,
    responses: { 200: WorkspaceTreeResponse },
  }),
  viewReadFile: defineRoute({
    method: "GET",
    path: "/views/:layer/:layerId/files",
    summary: "Read a file of the effective view (streamed; Range and If-None-Match supported)",
    tags,
    auth: "user-or-robot",
    params: WorkspaceLayerParams,
    query: WorkspacePathQuery,
    headers: WorkspaceConditionalHeaders,
    responses: { 200: FileBytes },
  }),
  layerTree: defineRoute({
    method: "GET",
    path: "/layers/:layer/:layerId/tree",
    summary: "List one layer's own entries (whiteouts included)",
    tags,
    auth: "user-or-robot",
    params: WorkspaceLayerParams,
    query: WorkspaceTreeQuery,
    responses: { 200: WorkspaceTreeResponse },
  }),
  readFile: defineRoute({
    method: "GET",
    path: "/layers/:layer/:layerId/files",
    summary: "Read a file of one layer (streamed; Range and If-None-Match supported)",
    tags,
    auth: "user-or-robot",
    params: WorkspaceLayerParams,
    query: WorkspacePathQuery,
    headers: WorkspaceConditionalHeaders,
    responses: { 200: FileBytes },
  }),
  writeFile: defineRoute({
    method: "PUT",
    path: "/layers/:layer/:layerId/files",
    summary:
      "Upload a file (raw streamed body). Create with If-None-Match: *, overwrite with If-Match: <etag>",
    tags,
    auth: "user-or-robot",
    params: WorkspaceLayerParams,
    query: WorkspacePathQuery,
    headers: WorkspaceConditionalHeaders,
    responses: { 200: WorkspaceEntry, 201: WorkspaceEntry },
  }),
  deleteEntry: defineRoute({
    method: "DELETE",
    path: "/layers/:layer/:layerId/files",
    summary: "Delete a file, whiteout or directory (If-Match required; recursive=true for a non-empty one)",
    tags,
    auth: "user-or-robot",
    params: WorkspaceLayerParams,
    query: WorkspaceDeleteQuery,
    headers: WorkspaceConditionalHeaders,
    responses: { 200: WorkspaceDeleteResponse },
  }),
  makeDirectory: defineRoute({
    method: "POST",
    path: "/layers/:layer/:layerId/dirs",
    summary: "Create a directory and its parents (200 when it already exists)",
    tags,
    auth: "user-or-robot",
    params: WorkspaceLayerParams,
    body: WorkspaceMkdirBody,
    responses: { 200: WorkspaceEntry, 201: WorkspaceEntry },
  }),
  moveEntry: defineRoute({
    method: "POST",
    path: "/layers/:layer/:layerId/move",
    summary: "Move or rename an entry within a layer (If-Match of the source required)",
    tags,
    auth: "user-or-robot",
    params: WorkspaceLayerParams,
    body: WorkspaceMoveBody,
    headers: WorkspaceConditionalHeaders,
    responses: { 200: WorkspaceEntry },
  }),
  copyFile: defineRoute({
    method: "POST",
    path: "/layers/:layer/:layerId/copy",
    summary: "Copy a file from a readable view into this layer (If-Match to overwrite)",
    tags,
    auth: "user-or-robot",
    params: WorkspaceLayerParams,
    body: WorkspaceCopyBody,
    headers: WorkspaceConditionalHeaders,
    responses: { 200: WorkspaceEntry, 201: WorkspaceEntry },
  }),
  createWhiteout: defineRoute({
    method: "POST",
    path: "/layers/:layer/:layerId/whiteouts",
    summary: "Hide an inherited entry in this layer's view",
    tags,
    auth: "user-or-robot",
    params: WorkspaceLayerParams,
    body: WorkspaceWhiteoutBody,
    responses: { 200: WorkspaceEntry, 201: WorkspaceEntry },
  }),
  listVersions: defineRoute({
    method: "GET",
    path: "/layers/:layer/:layerId/versions",
    summary: "List the kept versions of a file, newest first",
    tags,
    auth: "user-or-robot",
    params: WorkspaceLayerParams,
    query: WorkspacePathQuery,
    responses: { 200: WorkspaceVersionsResponse },
  }),
  readVersion: defineRoute({
    method: "GET",
    path: "/layers/:layer/:layerId/versions/:version",
    summary: "Read the bytes of one kept version of a file",
    tags,
    auth: "user-or-robot",
    params: WorkspaceVersionParams,
    query: WorkspacePathQuery,
    headers: WorkspaceConditionalHeaders,
    responses: { 200: FileBytes },
  }),
  restoreVersion: defineRoute({
    method: "POST",
    path: "/layers/:layer/:layerId/versions/restore",
    summary: "Make a kept version current again, as a new version (If-Match required)",
    tags,
    auth: "user-or-robot",
    params: WorkspaceLayerParams,
    body: WorkspaceRestoreBody,
    headers: WorkspaceConditionalHeaders,
    responses: { 200: WorkspaceEntry },
  }),
};
export type WorkspaceRoutes = typeof workspaceRoutes;
