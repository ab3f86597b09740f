import { createEvent } from "@perseus/bus";
import type { DomainEvent, Message, MessageAttachment, TraceContext } from "@perseus/contracts";

/**
 * Chat's events carry a little more than the catalog payload: `message.created` adds the
 * attachments and `message.changed` the whole updated message, so every replica can push
 * complete frames without reading Postgres per event. Other consumers parse with the
 * catalog schema, which drops the extra fields.
 */
export type MessageCreatedExtension = { attachments: MessageAttachment[] };
export type MessageChangedExtension = { message: Message };

/** `trace`: the context of the post (defaults to the active one; a group commit passes each post's own). */
export function messageCreatedEvent(
  tenantId: string,
  teamId: string,
  message: Message,
  trace?: TraceContext,
): DomainEvent {
  const event = createEvent(
    "message.created",
    tenantId,
    {
      messageId: message.id,
      chatgroupId: message.chatgroupId,
      teamId,
      seq: message.seq,
      authorType: message.authorType,
      authorId: message.authorId,
      body: message.body,
      threadRootId: message.threadRootId,
      mentions: message.mentions,
      taskId: message.taskId,
      createdAt: message.createdAt,
    },
    trace,
  );
  const extension: MessageCreatedExtension = { attachments: message.attachments };
  return { ...event, payload: { ...event.payload, ...extension } };
}

export function messageChangedEvent(
  tenantId: string,
  message: Message,
  change: "edited" | "deleted" | "reactions",
): DomainEvent {
  const event = createEvent("message.changed", tenantId, {
    messageId: message.id,
    chatgroupId: message.chatgroupId,
    seq: message.seq,
    change,
  });
  const extension: MessageChangedExtension = { message };
  return { ...event, payload: { ...event.payload, ...extension } };
}
