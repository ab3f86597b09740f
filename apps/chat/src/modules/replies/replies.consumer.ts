import {
  type BusLogger,
  createStreamConsumer,
  type DeadLetterInfo,
  markProcessed,
  type StreamConsumer,
} from "@perseus/bus";
import type { DomainEvent, Message } from "@perseus/contracts";
import { type Db, isUniqueViolation, schema, withTenant } from "@perseus/db";
import { eq } from "drizzle-orm";
import type { Redis } from "ioredis";
import { findMessage, findTaskReply } from "../messages/messages.repo.js";
import { storeMessage } from "../messages/messages.store.js";
import { storeApprovalNotice } from "./approval-notices.js";
import { storeTaskOutcomeNotice } from "./task-outcome-notices.js";
import { formatUsageLine } from "./usage-line.js";

/** One group shared by all chat replicas: each task result is handled by one of them. */
export const REPLIES_GROUP = "chat-replies";

function truncate(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, "utf8") <= maxBytes) return text;
  const marker = "\n\n…(truncated)";
  let cut = Buffer.from(text, "utf8")
    .subarray(0, maxBytes - Buffer.byteLength(marker))
    .toString("utf8");
  // A cut inside a multi-byte character decodes to U+FFFD: drop it.
  if (cut.endsWith("\uFFFD")) cut = cut.slice(0, -1);
  return cut + marker;
}

/** The result, then the usage line when the task reported usage; the line always fits. */
function replyBody(result: string, usageLine: string | null, maxBytes: number): string {
  if (!usageLine) return truncate(result, maxBytes);
  const text = truncate(result, maxBytes - Buffer.byteLength(usageLine) - 2);
  return text ? `${text}\n\n${usageLine}` : usageLine;
}

/**
 * Stores a task's result as the robot's reply, once: the event id is marked processed in
 * the same transaction, and `taskId` / clientKey `task:<taskId>` are unique, so a second
 * delivery (or a second event for the same task) changes nothing.
 */
export async function storeTaskReply(
  db: Db,
  event: DomainEvent<"task.succeeded">,
  options: { maxBytes: number },
): Promise<Message | null> {
  const { payload, tenantId } = event;
  if (!payload.chatgroupId) return null;
  const chatgroupId = payload.chatgroupId;
  try {
    return await withTenant(db, { tenantId }, async (tx) => {
      if (!(await markProcessed(tx, { tenantId, consumer: REPLIES_GROUP, eventId: event.id }))) return null;
      if (await findTaskReply(tx, payload.taskId)) return null;
      const [chatgroup] = await tx
        .select({ teamId: schema.chatgroups.teamId, name: schema.chatgroups.name })
        .from(schema.chatgroups)
        .where(eq(schema.chatgroups.id, chatgroupId));
      if (!chatgroup) return null;
      // A reply to a message inside a thread stays in that thread.
      const invoking = payload.messageId ? await findMessage(tx, payload.messageId) : null;
      return storeMessage(tx, {
        tenantId,
        chatgroup: { chatgroupId, teamId: chatgroup.teamId, name: chatgroup.name, isArchived: false },
        authorType: "robot",
        authorId: payload.robotId,
        body: replyBody(payload.result, formatUsageLine(payload.usage), options.maxBytes),
        threadRootId: invoking?.threadRootId ?? undefined,
        clientKey: `task:${payload.taskId}`,
        taskId: payload.taskId,
      });
    });
  } catch (error) {
    // Another replica stored this task's reply concurrently; ours rolled back (seq included).
    if (isUniqueViolation(error)) return null;
    throw error;
  }
}

export function createRepliesConsumer(options: {
  db: Db;
  redis: Redis;
  prefix: string;
  instanceId: string;
  maxBytes: number;
  log: BusLogger;
  onDeadLetter?: (info: DeadLetterInfo) => void;
}): StreamConsumer {
  return createStreamConsumer({
    redis: options.redis,
    prefix: options.prefix,
    topic: "task",
    group: REPLIES_GROUP,
    consumer: options.instanceId,
    log: options.log,
    ...(options.onDeadLetter ? { onDeadLetter: options.onDeadLetter } : {}),
    handle: async (event) => {
      if (event.type === "approval.requested" || event.type === "approval.decided") {
        await storeApprovalNotice(options.db, event, { consumer: REPLIES_GROUP, maxBytes: options.maxBytes });
        return;
      }
      if (event.type === "task.status") {
        await storeTaskOutcomeNotice(options.db, event, { consumer: REPLIES_GROUP });
        return;
      }
      if (event.type !== "task.succeeded") return;
      await storeTaskReply(options.db, event, { maxBytes: options.maxBytes });
    },
  });
}
