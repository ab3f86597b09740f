import type { Robot, ScopedMember } from "@perseus/contracts";

/** Someone the composer can `@mention`: a member of the chatgroup or a robot invocable in it. */
export type MentionCandidate = { kind: "user" | "robot"; id: string; handle: string; name: string };

/** The `@partial` the caret sits in: `start` is the index of the `@`, `end` the caret. */
export type MentionQuery = { start: number; end: number; query: string };

const HANDLE_CHAR = /[a-z0-9_-]/i;
// Same exclusions as the server's parser: no mention after a word character, '@', '.', '/' or '-'.
const BLOCKING_BEFORE = /[\p{L}\p{N}_@./-]/u;

/** Whether `index` lies inside a fenced code block or an inline code span (mentions there are text). */
function insideCode(text: string, index: number): boolean {
  const before = text.slice(0, index);
  const fences = before.match(/^ {0,3}(```|~~~)/gm)?.length ?? 0;
  if (fences % 2 === 1) return true;
  const line = before.slice(before.lastIndexOf("\n") + 1);
  const ticks = line.match(/`+/g) ?? [];
  // An odd number of equal-length unclosed runs means an open span: count single backtick runs.
  const open: string[] = [];
  for (const run of ticks) {
    if (open.at(-1) === run) open.pop();
    else open.push(run);
  }
  return open.length > 0;
}

/** The mention being typed at `caret`, or null when the caret is not in one. */
export function findMentionQuery(text: string, caret: number): MentionQuery | null {
  let start = caret;
  while (start > 0 && HANDLE_CHAR.test(text[start - 1] ?? "")) start -= 1;
  if (start === 0 || text[start - 1] !== "@") return null;
  const at = start - 1;
  if (at > 0 && BLOCKING_BEFORE.test(text[at - 1] ?? "")) return null;
  const query = text.slice(start, caret);
  if (query.length > 32 || (query !== "" && !/^[a-z]/i.test(query))) return null;
  if (insideCode(text, at)) return null;
  return { start: at, end: caret, query: query.toLowerCase() };
}

/**
 * Candidates for a query, best first: handle prefix matches, then name-word prefix matches,
 * then substring matches; robots and people interleave by that rank, then by handle.
 */
export function rankCandidates(candidates: MentionCandidate[], query: string, limit = 8): MentionCandidate[] {
  const q = query.toLowerCase();
  const scored: { candidate: MentionCandidate; rank: number }[] = [];
  for (const candidate of candidates) {
    const handle = candidate.handle.toLowerCase();
    const words = candidate.name.toLowerCase().split(/\s+/);
    let rank = -1;
    if (handle.startsWith(q)) rank = 0;
    else if (words.some((word) => word.startsWith(q))) rank = 1;
    else if (handle.includes(q)) rank = 2;
    if (rank >= 0) scored.push({ candidate, rank });
  }
  scored.sort((a, b) => a.rank - b.rank || a.candidate.handle.localeCompare(b.candidate.handle));
  return scored.slice(0, limit).map((entry) => entry.candidate);
}

/** Replaces the query with `@handle ` and answers the new text and caret position. */
export function applyMention(
  text: string,
  query: MentionQuery,
  candidate: MentionCandidate,
): { text: string; caret: number } {
  const insert = `@${candidate.handle} `;
  const rest = text.slice(query.end).replace(/^[a-z0-9_-]*/i, "");
  const next = `${text.slice(0, query.start)}${insert}${rest.startsWith(" ") ? rest.slice(1) : rest}`;
  return { text: next, caret: query.start + insert.length };
}

/** Robots that may be invoked in a chatgroup: not revoked and scoped to its tenant, team or itself. */
export function invocableRobots(robots: Robot[], chatgroupId: string, teamId: string): Robot[] {
  return robots.filter(
    (robot) =>
      robot.revokedAt === null &&
      (robot.scopes.tenant ||
        robot.scopes.teamIds.includes(teamId) ||
        robot.scopes.chatgroupIds.includes(chatgroupId)),
  );
}

/** People, then robots, deduplicated by id, without the caller. */
export function mentionCandidates(
  members: ScopedMember[],
  robots: Robot[],
  selfId: string,
): MentionCandidate[] {
  const seen = new Set<string>();
  const out: MentionCandidate[] = [];
  for (const member of members) {
    if (member.userId === selfId || seen.has(member.userId)) continue;
    seen.add(member.userId);
    out.push({ kind: "user", id: member.userId, handle: member.handle, name: member.name });
  }
  for (const robot of robots) {
    if (seen.has(robot.id)) continue;
    seen.add(robot.id);
    out.push({ kind: "robot", id: robot.id, handle: robot.handle, name: robot.name });
  }
  return out;
}
