import { ValidationError } from "@perseus/kit";

/**
 * The one gate every client-supplied workspace path passes. Paths are names in the
 * database, never joined into a filesystem path (storage is content-addressed), but they
 * are materialised on robots' machines, so anything that could mean "elsewhere" on any
 * OS is refused rather than repaired. The rules (see README "Paths"):
 *
 * - NFC-normalised; must be well-formed Unicode; at most 1024 UTF-8 bytes, 255 per segment, 64 segments
 * - relative: no leading `/`, no drive prefix (`C:`), no `~` as first segment
 * - no empty segments (`a//b`, trailing `/`), no `.` or `..` segments, no segment made only of dots
 * - no NUL, C0/C1 control characters, DEL, backslash
 * - no leftover percent-escapes (`%2e`, `%2F`, `%252e`): the URL layer decodes once; a
 *   second decoder anywhere downstream must find nothing to decode
 * - no characters that look like or normalise (NFKC) to `.`, `/` or `\`, no bidi controls,
 *   zero-width or other invisible format characters
 * - no segment ending in a space or a dot (Windows strips them: `.. ` would become `..`)
 */

export const MAX_PATH_BYTES = 1024;
export const MAX_SEGMENT_BYTES = 255;
export const MAX_DEPTH = 64;

// C0, DEL, C1 controls, plus backslash.
const FORBIDDEN_CHARS = /[\p{Cc}\\]/u;
// Look-alikes of '/' and '\\' (refused anywhere) and of '.' that NFKC folds into dots.
const SLASH_LIKE = /[\u2215\u2044\u29F8\u2571\u2572\uFF0F\u27CB\u27CD\u29F5\u29F9\u2216\uFE68\uFF3C\u1735]/u;
const DOT_LEADERS = /[\u2024\u2025\u2026\uFE52\uFF0E]/u;
// A segment made only of these reads as '.' or '..' to a person (ideographic, halfwidth, Syriac full stops).
const ONLY_DOT_LIKE = /^[.\u3002\uFF61\u0701\u0702\u2024\u2025\u2026\uFE52\uFF0E\s]+$/u;
// Invisible format characters: zero-width, joiners, bidi embeddings/overrides/isolates, BOM,
// soft hyphen, word joiner, and other Cf characters (tag characters, interlinear annotation).
const INVISIBLE = /[\p{Cf}\p{Co}\p{Cn}\u2028\u2029]/u;
const PERCENT_ESCAPE = /%[0-9A-Fa-f]{2}/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const ONLY_DOTS = /^\.+$/;
const DRIVE = /^[A-Za-z]:/;

export type NormalisedPath = { path: string; segments: string[] };

type Problem = { reason: string };

function check(raw: string, allowRoot: boolean): NormalisedPath | Problem {
  if (typeof raw !== "string") return { reason: "path must be a string" };
  if (raw === "") return allowRoot ? { path: "", segments: [] } : { reason: "path is empty" };
  if (raw.length > MAX_PATH_BYTES * 4) return { reason: "path is too long" };
  if (LONE_SURROGATE.test(raw)) return { reason: "path is not well-formed Unicode" };
  const path = raw.normalize("NFC");
  if (Buffer.byteLength(path, "utf8") > MAX_PATH_BYTES)
    return { reason: `path is longer than ${MAX_PATH_BYTES} bytes` };
  if (FORBIDDEN_CHARS.test(path)) return { reason: "path contains a control character or a backslash" };
  if (PERCENT_ESCAPE.test(path)) return { reason: "path contains a percent-escape (encode it only once)" };
  if (path.startsWith("/")) return { reason: "path must be relative (no leading '/')" };
  if (DRIVE.test(path)) return { reason: "path must not start with a drive letter" };
  const segments = path.split("/");
  if (segments.length > MAX_DEPTH) return { reason: `path is deeper than ${MAX_DEPTH} levels` };
  if (segments[0] === "~") return { reason: "path must not start with '~'" };
  for (const segment of segments) {
    if (segment === "") return { reason: "path has an empty segment" };
    if (ONLY_DOTS.test(segment)) return { reason: "path has a '.' or '..' segment" };
    if (Buffer.byteLength(segment, "utf8") > MAX_SEGMENT_BYTES)
      return { reason: `a path segment is longer than ${MAX_SEGMENT_BYTES} bytes` };
    if (segment.endsWith(" ") || segment.endsWith(".") || segment.startsWith(" "))
      return { reason: "a path segment starts with a space or ends with a space or a dot" };
    if (ONLY_DOT_LIKE.test(segment)) return { reason: "path has a segment that reads as '.' or '..'" };
    if (SLASH_LIKE.test(segment) || DOT_LEADERS.test(segment))
      return { reason: "path contains a character that looks like '.', '/' or '\\'" };
    if (INVISIBLE.test(segment)) return { reason: "path contains an invisible or unassigned character" };
    // Compatibility forms (fullwidth letters and the like) must not turn into separators or dots.
    const compat = segment.normalize("NFKC");
    if (compat.includes("/") || compat.includes("\\") || ONLY_DOT_LIKE.test(compat))
      return { reason: "path contains a character that looks like '.', '/' or '\\'" };
  }
  return { path, segments };
}

/** Validates a file path; throws a 400 naming the rule it breaks. */
export function normalisePath(
  raw: string,
  field = "path",
  location: "query" | "body" = "query",
): NormalisedPath {
  const result = check(raw, false);
  if ("reason" in result)
    throw new ValidationError(result.reason, [{ location, path: field, message: result.reason }]);
  return result;
}

/** Like {@link normalisePath}, but the empty string names the root directory. */
export function normaliseDirPath(
  raw: string,
  field = "path",
  location: "query" | "body" = "query",
): NormalisedPath {
  const result = check(raw, true);
  if ("reason" in result)
    throw new ValidationError(result.reason, [{ location, path: field, message: result.reason }]);
  return result;
}

/** True when `raw` passes the rules (for tests and quick checks). */
export function isValidPath(raw: string): boolean {
  return !("reason" in check(raw, false));
}

/** The ancestors of a path, outermost first: `a/b/c` → `a`, `a/b`. */
export function ancestorsOf(path: string): string[] {
  const segments = path.split("/");
  const result: string[] = [];
  for (let i = 1; i < segments.length; i++) result.push(segments.slice(0, i).join("/"));
  return result;
}

export function parentOf(path: string): string {
  const index = path.lastIndexOf("/");
  return index < 0 ? "" : path.slice(0, index);
}

export function nameOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Whether `path` is `dir` itself or below it (`dir` "" is the root). */
export function isWithin(path: string, dir: string): boolean {
  return dir === "" || path === dir || path.startsWith(`${dir}/`);
}
