import { markProcessed } from "@perseus/bus";
import type { DomainEvent, Message } from "@perseus/contracts";
import { type Db, isUniqueViolation, schema, type Tx, withTenant } from "@perseus/db";
import { and, desc, eq } from "drizzle-orm";
import { findMessage } from "../messages/messages.repo.js";
import { storeMessage } from "../messages/messages.store.js";

type StatusEvent = DomainEvent<"task.status">;
type Outcome = "failed" | "dead" | "cancelled";

const OUTCOMES: ReadonlySet<string> = new Set<Outcome>(["failed", "dead", "cancelled"]);

/** Longest reason quoted in the chat; the task itself keeps the full error. */
export const MAX_REASON_CHARS = 300;

// Credentials that a robot's error text may carry: our own tokens and keys, bearer/basic
// headers, JWTs, well-known cloud and forge keys, `secret=…` pairs and passwords in URLs.
const SECRET_PATTERNS: [RegExp, string][] = [
  [/\b(?:ptt|prc|pak)_[A-Za-z0-9_-]{8,}/g, "[redacted]"],
  [/\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}/gi, "$1 [redacted]"],
  [/\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*/g, "[redacted]"],
  [/\b(?:sk|pk|rk)-[A-Za-z0-9_-]{12,}/g, "[redacted]"],
  [/\b(?:gh[pousr]_|glpat-|xox[abprs]-|AKIA|ASIA)[A-Za-z0-9_-]{8,}/g, "[redacted]"],
  [
    /\b((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret)\s*[=:]\s*)("[^"]*"|'[^']*'|\S+)/gi,
    "$1[redacted]",
  ],
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi, "$1[redacted]@"],
];

/**
 * A task's error as it may be shown in the chat: the message before any stack trace, on
 * one line, without credentials, at most `maxChars` characters. Null when nothing is left.
 */
export function publicReason(raw: string | null | undefined, maxChars = MAX_REASON_CHARS): string | null {
  if (!raw) return null;
  const kept: string[] = [];
  for (const line of raw.split(/\r?\n/)) {
    // A stack trace (Node, Python, Java, Go) and everything after it stays in the task's record.
    if (
      /^\s+at\s|^\s*Traceback \(most recent call last\)|^\s*goroutine \d+ \[|^\s*File ".*", line \d+/.test(
        line,
      )
    )
      break;
    kept.push(line);
  }
  let text = kept.join(" ").replace(/\s+/g, " ").trim();
  for (const [pattern, replacement] of SECRET_PATTERNS) text = text.replace(pattern, replacement);
  // Characters that would let the reason break out of its inline code span.
  text = text.replaceAll("`", "'");
  if (text.length > maxChars) text = `${text.slice(0, maxChars - 1).trimEnd()}…`;
  return text || null;
}

async function userHandle(tx: Tx, userId: string | null): Promise<string | null> {
  if (!userId) return null;
  const [row] = await tx
    .select({ handle: schema.users.handle })
    .from(schema.users)
    .where(eq(schema.users.id, userId));
  return row ? `@${row.handle}` : null;
}

/** Who asked to cancel the task, from dispatch's audit record of the request. */
async function cancelledBy(tx: Tx, taskId: string): Promise<string | null> {
  const [row] = await tx
    .select({ actorId: schema.auditEvents.actorId })
    .from(schema.auditEvents)
    .where(
      and(
        eq(schema.auditEvents.action, "task.cancel"),
        eq(schema.auditEvents.targetType, "task"),
        eq(schema.auditEvents.targetId, taskId),
      ),
    )
    .orderBy(desc(schema.auditEvents.seq))
    .limit(1);
  return userHandle(tx, row?.actorId ?? null);
}

async function noticeBody(tx: Tx, payload: StatusEvent["payload"], outcome: Outcome): Promise<string> {
  if (outcome === "cancelled") {
    const who = await cancelledBy(tx, payload.taskId);
    // dispatch stores the cancel reason as `cancelled: <reason>` (or a sentence of its own).
    const given = payload.error?.replace(/^cancelled(?::\s*|;\s*)?/i, "") ?? "";
    const reason = publicReason(given);
    return `Task cancelled${who ? ` by ${who}` : ""}${reason ? `: \`${reason}\`` : "."}`;
  }
  const reason = publicReason(payload.error) ?? "no reason was given";
  if (outcome === "dead") {
    const tries = payload.attempt === 1 ? "1 attempt" : `${payload.attempt} attempts`;
    return `Task failed after ${tries} and was set aside as a dead letter: \`${reason}\`. An owner or admin may retry it.`;
  }
  return `Task failed: \`${reason}\``;
}

/**
 * Posts one message from the robot into the task's chatgroup when the task ends failed,
 * dead (dead-lettered, which includes leases that expired with no attempts left) or
 * cancelled, linked to the task. Once per task and outcome: the event id is marked
 * processed in the same transaction, and the clientKey `task:<id>:<outcome>` is unique
 * per author and chatgroup, so a redelivered or repeated event posts nothing.
 */
export async function storeTaskOutcomeNotice(
  db: Db,
  event: StatusEvent,
  options: { consumer: string },
): Promise<Message | null> {
  const { payload, tenantId } = event;
  if (!OUTCOMES.has(payload.status) || !payload.chatgroupId) return null;
  const outcome = payload.status as Outcome;
  const chatgroupId = payload.chatgroupId;
  const clientKey = `task:${payload.taskId}:${outcome}`;
  try {
    return await withTenant(db, { tenantId }, async (tx) => {
      if (!(await markProcessed(tx, { tenantId, consumer: options.consumer, eventId: event.id })))
        return null;
      const [chatgroup] = await tx
        .select({ teamId: schema.chatgroups.teamId, name: schema.chatgroups.name })
        .from(schema.chatgroups)
        .where(eq(schema.chatgroups.id, chatgroupId));
      if (!chatgroup) return null;
      const [existing] = await tx
        .select({ id: schema.messages.id })
        .from(schema.messages)
        .where(
          and(
            eq(schema.messages.chatgroupId, chatgroupId),
            eq(schema.messages.authorId, payload.robotId),
            eq(schema.messages.clientKey, clientKey),
          ),
        );
      if (existing) return null;
      // A notice about a task asked inside a thread stays in that thread.
      const invoking = payload.messageId ? await findMessage(tx, payload.messageId) : null;
      return storeMessage(tx, {
        tenantId,
        chatgroup: { chatgroupId, teamId: chatgroup.teamId, name: chatgroup.name, isArchived: false },
        authorType: "robot",
        authorId: payload.robotId,
        body: await noticeBody(tx, payload, outcome),
        threadRootId: invoking?.threadRootId ?? undefined,
        clientKey,
        taskId: payload.taskId,
      });
    });
  } catch (error) {
    // Another replica posted this notice concurrently; ours rolled back (seq included).
    if (isUniqueViolation(error)) return null;
    throw error;
  }
}
