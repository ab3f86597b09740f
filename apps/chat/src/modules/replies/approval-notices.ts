import { markProcessed } from "@perseus/bus";
import type { DomainEvent, Message } from "@perseus/contracts";
import { type Db, schema, type Tx, withTenant } from "@perseus/db";
import { eq } from "drizzle-orm";
import { storeMessage } from "../messages/messages.store.js";

type ApprovalEvent = DomainEvent<"approval.requested"> | DomainEvent<"approval.decided">;

/** A code fence longer than any backtick run inside: the command shows verbatim and cannot close it. */
function fenced(text: string): string {
  const longest = Math.max(2, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  return `${fence}\n${text}\n${fence}`;
}

async function robotHandle(tx: Tx, robotId: string) {
  const [robot] = await tx
    .select({ handle: schema.robots.handle })
    .from(schema.robots)
    .where(eq(schema.robots.id, robotId));
  return robot ? `@${robot.handle}` : "a robot";
}

async function userHandle(tx: Tx, userId: string | null) {
  if (!userId) return null;
  const [user] = await tx
    .select({ handle: schema.users.handle })
    .from(schema.users)
    .where(eq(schema.users.id, userId));
  return user ? `@${user.handle}` : "an admin";
}

async function noticeBody(tx: Tx, event: ApprovalEvent, maxChars: number): Promise<string> {
  const robot = await robotHandle(tx, event.payload.robotId);
  const id = event.payload.approvalId;
  if (event.type === "approval.requested") {
    const { command, cwd, reason, expiresAt } = event.payload;
    const shown = command.length > maxChars ? `${command.slice(0, maxChars)}…` : command;
    return [
      `Approval needed: ${robot} wants to run this command for task ${event.payload.taskId}:`,
      fenced(shown),
      `in \`${cwd.slice(0, 500)}\` (${reason.slice(0, 500)}).`,
      `An owner or admin may approve or deny request ${id} until ${expiresAt}; without an answer it is denied.`,
    ].join("\n");
  }
  const { decision, decidedBy } = event.payload;
  if (decision === "expired")
    return `Approval request ${id} of ${robot} expired without an answer: the command was not run.`;
  const who = await userHandle(tx, decidedBy);
  return decision === "approved"
    ? `Approval request ${id} of ${robot} was approved by ${who}: the command may run once.`
    : `Approval request ${id} of ${robot} was denied by ${who}: the command will not run.`;
}

/**
 * Posts an approval request, and later its outcome, into the task's chatgroup as a
 * system message, once per event (marked processed in the same transaction).
 */
export async function storeApprovalNotice(
  db: Db,
  event: ApprovalEvent,
  options: { consumer: string; maxBytes: number },
): Promise<Message | null> {
  const { payload, tenantId } = event;
  const chatgroupId = payload.chatgroupId;
  if (!chatgroupId) return null;
  return withTenant(db, { tenantId }, async (tx) => {
    if (!(await markProcessed(tx, { tenantId, consumer: options.consumer, eventId: event.id }))) return null;
    const [chatgroup] = await tx
      .select({ teamId: schema.chatgroups.teamId, name: schema.chatgroups.name })
      .from(schema.chatgroups)
      .where(eq(schema.chatgroups.id, chatgroupId));
    if (!chatgroup) return null;
    // Characters may take up to 4 bytes; the rest of the notice fits in the remaining 1 KiB.
    const body = await noticeBody(tx, event, Math.max(200, Math.floor((options.maxBytes - 1_024) / 4)));
    return storeMessage(tx, {
      tenantId,
      chatgroup: { chatgroupId, teamId: chatgroup.teamId, name: chatgroup.name, isArchived: false },
      authorType: "system",
      authorId: null,
      body,
    });
  });
}
