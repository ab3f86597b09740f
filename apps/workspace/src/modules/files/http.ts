import { createHash } from "node:crypto";
import { nameOf } from "./paths.js";

/** A strong ETag value (unquoted): new for every write of an entry, derived from nothing a client controls. */
export function makeEtag(fileId: string, version: number, content: string): string {
  return createHash("sha256").update(`${fileId}:${version}:${content}`).digest("base64url").slice(0, 27);
}

export const quoteEtag = (etag: string) => `"${etag}"`;

export type EtagList = "*" | { weak: boolean; tag: string }[];

const ENTITY_TAG = /^\s*(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*$/;

/** Parses an If-Match / If-None-Match value; null when it is malformed (treated as a failed precondition). */
export function parseEtagList(header: string | undefined): EtagList | null | undefined {
  if (header === undefined) return undefined;
  if (header.trim() === "*") return "*";
  const tags: { weak: boolean; tag: string }[] = [];
  for (const part of header.split(",")) {
    const match = ENTITY_TAG.exec(part);
    if (!match) return null;
    tags.push({ weak: Boolean(match[1]), tag: match[2] ?? "" });
  }
  return tags.length ? tags : null;
}

/** If-Match uses the strong comparison: weak tags never match. */
export function ifMatchSatisfied(list: EtagList | null, current: string | null): boolean {
  if (list === null || current === null) return false;
  if (list === "*") return true;
  return list.some((entry) => !entry.weak && entry.tag === current);
}

/** If-None-Match uses the weak comparison. True when the condition holds (no listed tag matches). */
export function ifNoneMatchSatisfied(list: EtagList | null, current: string | null): boolean {
  if (list === null) return false;
  if (current === null) return true;
  if (list === "*") return false;
  return !list.some((entry) => entry.tag === current);
}

export type RangeResult =
  | { kind: "full" }
  | { kind: "partial"; start: number; end: number }
  | { kind: "unsatisfiable" };

/**
 * One `bytes=` range (first-last, first-, -suffix). Several ranges, other units or a
 * malformed header fall back to the whole representation, as RFC 9110 allows.
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (!header) return { kind: "full" };
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return { kind: "full" };
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return { kind: "full" };
  if (first.length > 15 || last.length > 15) return { kind: "unsatisfiable" };
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || (last !== "" && Number(last) < start)) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end };
}

const TYPES: Record<string, string> = {
  txt: "text/plain; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  json: "application/json",
  yaml: "application/yaml",
  yml: "application/yaml",
  xml: "application/xml",
  html: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  ts: "text/plain; charset=utf-8",
  py: "text/x-python; charset=utf-8",
  sh: "text/x-shellscript; charset=utf-8",
  sql: "application/sql",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  svg: "image/svg+xml",
  pdf: "application/pdf",
  zip: "application/zip",
  gz: "application/gzip",
  tar: "application/x-tar",
  wasm: "application/wasm",
  mp3: "audio/mpeg",
  mp4: "video/mp4",
};

const MEDIA_TYPE =
  /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}(\s*;\s*charset=[a-z0-9_.:-]{1,40})?$/i;

/**
 * The stored content type: the uploader's Content-Type when it is a plain, sane media type,
 * otherwise a guess from the name's extension, otherwise application/octet-stream.
 */
export function contentTypeFor(path: string, declared: string | undefined): string {
  const value = declared?.trim();
  // Generic or form types say nothing about the file: guess from its name instead.
  const generic = /^(application\/octet-stream|application\/x-www-form-urlencoded|multipart\/)/i;
  if (value && MEDIA_TYPE.test(value) && !generic.test(value)) return value.toLowerCase();
  const name = nameOf(path);
  const dot = name.lastIndexOf(".");
  const extension = dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
  return TYPES[extension] ?? "application/octet-stream";
}

/** A Content-Disposition header naming the file (RFC 6266 / 8187 encoding). */
export function contentDisposition(path: string): string {
  const name = nameOf(path);
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
