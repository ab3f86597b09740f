import {
  buildPath,
  WorkspaceEntry as EntrySchema,
  type WorkspaceEntry,
  type WorkspaceLayer,
  workspaceRoutes,
} from "@perseus/contracts";
import { api } from "../../api/api.js";
import { errorFromResponse, isApiError } from "../../api/errors.js";
import { getAccessToken, sessionStore } from "../../session/session.js";

export const WORKSPACE = "/api/workspace";

export type LayerRef = { layer: WorkspaceLayer; layerId: string };

/** Text and images up to this size are previewed; bigger files are only downloaded. */
export const PREVIEW_LIMIT = 2 * 1024 * 1024;

function fileUrl(kind: "views" | "layers", ref: LayerRef, path: string): string {
  const route = kind === "views" ? workspaceRoutes.viewReadFile : workspaceRoutes.readFile;
  return `${WORKSPACE}${buildPath(route.path, ref)}?path=${encodeURIComponent(path)}`;
}

export function listTree(view: LayerRef, path: string, signal?: AbortSignal) {
  return api.call(WORKSPACE, workspaceRoutes.viewTree, {
    params: view,
    query: { path, recursive: "false" },
    ...(signal ? { signal } : {}),
  });
}

export type Preview =
  | { kind: "text"; text: string; etag: string; contentType: string }
  | { kind: "image"; dataUrl: string; etag: string; contentType: string }
  | { kind: "other"; etag: string; contentType: string };

export function isTextType(contentType: string, path: string): boolean {
  return (
    contentType.startsWith("text/") ||
    /^application\/(json|xml|yaml|x-yaml|toml|javascript|typescript|x-sh)\b/.test(contentType) ||
    /\.(md|markdown|txt|json|ya?ml|toml|csv|ts|tsx|js|mjs|py|sh|go|rs|sql|css|html|xml|ini|log)$/i.test(path)
  );
}

export function isMarkdown(contentType: string, path: string): boolean {
  return contentType.startsWith("text/markdown") || /\.(md|markdown)$/i.test(path);
}

function readAsDataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

/**
 * Reads a file of the view for preview. Images become data: URLs (the console's CSP
 * allows `img-src 'self' data:` only); the file's ETag is what an edit must match.
 */
export async function readPreview(
  view: LayerRef,
  entry: WorkspaceEntry,
  signal?: AbortSignal,
): Promise<Preview> {
  const response = await api.fetch(fileUrl("views", view, entry.path), {
    method: "GET",
    ...(signal ? { signal } : {}),
  });
  if (!response.ok) throw await errorFromResponse(response);
  const etag = response.headers.get("etag") ?? entry.etag;
  const contentType = response.headers.get("content-type") ?? entry.contentType ?? "application/octet-stream";
  if (contentType.startsWith("image/") && !contentType.includes("svg")) {
    return { kind: "image", dataUrl: await readAsDataUrl(await response.blob()), etag, contentType };
  }
  if (isTextType(contentType, entry.path))
    return { kind: "text", text: await response.text(), etag, contentType };
  await response.body?.cancel();
  return { kind: "other", etag, contentType };
}

/** The current text and ETag of a file in its own layer (what a conflict compares with). */
export async function readLayerText(ref: LayerRef, path: string): Promise<{ text: string; etag: string }> {
  const response = await api.fetch(fileUrl("layers", ref, path), { method: "GET" });
  if (!response.ok) throw await errorFromResponse(response);
  return { text: await response.text(), etag: response.headers.get("etag") ?? "" };
}

/** Overwrites a text file only if it is still at `ifMatch`; a 412 is a conflict, not an error. */
export async function writeText(
  ref: LayerRef,
  path: string,
  text: string,
  ifMatch: string,
  contentType: string,
): Promise<{ conflict: true } | { conflict: false; etag: string }> {
  const response = await api.fetch(fileUrl("layers", ref, path), {
    method: "PUT",
    headers: { "if-match": ifMatch, "content-type": contentType },
    body: text,
  });
  if (response.status === 412) return { conflict: true };
  if (!response.ok) throw await errorFromResponse(response);
  const entry = EntrySchema.parse(await response.json());
  return { conflict: false, etag: entry.etag };
}

/** Saves a file of the view to disk (through a blob: link; the CSP allows nothing inline). */
export async function download(view: LayerRef, entry: WorkspaceEntry): Promise<void> {
  const response = await api.fetch(fileUrl("views", view, entry.path), { method: "GET" });
  if (!response.ok) throw await errorFromResponse(response);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = entry.name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export type UploadOptions = {
  /** `If-Match` of the file being replaced, or null to create (`If-None-Match: *`). */
  replaceEtag: string | null;
  onProgress: (sent: number, total: number) => void;
  signal?: AbortSignal;
};

function xhrPut(
  url: string,
  file: File,
  options: UploadOptions,
  token: string | null,
): Promise<XMLHttpRequest> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    if (token) xhr.setRequestHeader("authorization", `Bearer ${token}`);
    xhr.setRequestHeader("accept", "application/json, application/problem+json");
    xhr.setRequestHeader("content-type", file.type || "application/octet-stream");
    if (options.replaceEtag) xhr.setRequestHeader("if-match", options.replaceEtag);
    else xhr.setRequestHeader("if-none-match", "*");
    // Upload progress events exist only on XMLHttpRequest (fetch has no upload progress).
    xhr.upload.onprogress = (event) =>
      options.onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    xhr.onload = () => resolve(xhr);
    xhr.onerror = () => reject(new TypeError("network error"));
    xhr.onabort = () => reject(new DOMException("upload cancelled", "AbortError"));
    options.signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}

function asResponse(xhr: XMLHttpRequest): Response {
  const headers = new Headers();
  const type = xhr.getResponseHeader("content-type");
  if (type) headers.set("content-type", type);
  return new Response(xhr.status === 204 ? null : xhr.responseText, { status: xhr.status, headers });
}

/** Uploads one file into a layer with progress; one refresh-and-retry after a 401, like the API client. */
export async function uploadFile(
  ref: LayerRef,
  path: string,
  file: File,
  options: UploadOptions,
): Promise<WorkspaceEntry> {
  const url = `${WORKSPACE}${buildPath(workspaceRoutes.writeFile.path, ref)}?path=${encodeURIComponent(path)}`;
  let token = getAccessToken();
  let xhr = await xhrPut(url, file, options, token);
  if (xhr.status === 401 && (await sessionStore.recover(token))) {
    token = getAccessToken();
    xhr = await xhrPut(url, file, options, token);
  }
  if (xhr.status < 200 || xhr.status >= 300) throw await errorFromResponse(asResponse(xhr));
  return EntrySchema.parse(JSON.parse(xhr.responseText));
}

export function listVersions(ref: LayerRef, path: string, signal?: AbortSignal) {
  return api.call(WORKSPACE, workspaceRoutes.listVersions, {
    params: ref,
    query: { path },
    ...(signal ? { signal } : {}),
  });
}

/** Reads one kept version as text (for comparing before a restore). */
export async function readVersionText(ref: LayerRef, path: string, version: number): Promise<string> {
  const url = `${WORKSPACE}${buildPath(workspaceRoutes.readVersion.path, { ...ref, version })}?path=${encodeURIComponent(path)}`;
  const response = await api.fetch(url, { method: "GET" });
  if (!response.ok) throw await errorFromResponse(response);
  return response.text();
}

export async function restoreVersion(ref: LayerRef, path: string, version: number, ifMatch: string) {
  const url = `${WORKSPACE}${buildPath(workspaceRoutes.restoreVersion.path, ref)}`;
  const response = await api.fetch(url, {
    method: "POST",
    headers: { "if-match": ifMatch, "content-type": "application/json" },
    body: JSON.stringify({ path, version }),
  });
  if (!response.ok) throw await errorFromResponse(response);
  return EntrySchema.parse(await response.json());
}

export function isConflict(error: unknown): boolean {
  return isApiError(error) && (error.status === 412 || error.status === 409);
}
