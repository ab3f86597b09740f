/** Most distinct handles one message may mention; the rest are ignored. */
export const MAX_MENTIONS = 50;

// Fenced blocks (``` or ~~~, closed or running to the end) and inline code spans of any
// backtick run length: an `@handle` inside code is text, not a mention.
const FENCED_BLOCK = /^( {0,3})(`{3,}|~{3,})[^\n]*\n[\s\S]*?(?:^ {0,3}\2[`~]*[ \t]*$|(?![\s\S]))/gm;
const INLINE_CODE = /(?<!`)(`+)(?!`)[\s\S]*?[^`]\1(?!`)/g;
// Not after a word character, '@', '.', '/' or '-' (e-mail addresses, paths, `a@b`); the
// handle then runs as far as the handle grammar allows.
const MENTION = /(?<![\p{L}\p{N}_@./-])@([a-zA-Z][a-zA-Z0-9_-]{1,31})(?![a-zA-Z0-9_])/gu;

/** The distinct lower-cased handles `@mentioned` in a markdown body, outside code, in order of appearance. */
export function parseMentions(body: string): string[] {
  if (!body.includes("@")) return [];
  const text = body.replace(FENCED_BLOCK, " ").replace(INLINE_CODE, " ");
  const handles = new Set<string>();
  for (const match of text.matchAll(MENTION)) {
    const handle = match[1]?.toLowerCase().replace(/-+$/, "");
    if (handle && handle.length >= 2) handles.add(handle);
    if (handles.size >= MAX_MENTIONS) break;
  }
  return [...handles];
}
