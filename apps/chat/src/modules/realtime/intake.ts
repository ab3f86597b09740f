import {
  MembershipChangedPayload,
  Message,
  MessageAttachment,
  MessageChangedPayload,
  MessageCreatedPayload,
  PrincipalRevokedPayload,
  realtimeCloseCodes,
  TaskProgressPayload,
  TaskStatusPayload,
} from "@perseus/contracts";
import type { FastifyBaseLogger } from "fastify";
import { z } from "zod";
import { messageChangedFrame, messageFrame, taskProgressFrame, taskStatusFrame } from "./frames.js";
import type { Hub } from "./hub.js";
import type { StreamEntry } from "./stream-tail.js";

// The catalog payloads plus chat's own extension fields (see lib/events.ts).
const MessageCreatedWire = MessageCreatedPayload.extend({
  attachments: z.array(MessageAttachment).default([]),
});
const MessageChangedWire = MessageChangedPayload.extend({ message: Message });

type RawEnvelope = { id?: unknown; type?: unknown; tenantId?: unknown; payload?: unknown };

function envelopeOf(fields: string[]): RawEnvelope | null {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] !== "e") continue;
    try {
      const value = JSON.parse(fields[i + 1] as string) as unknown;
      return value && typeof value === "object" ? (value as RawEnvelope) : null;
    } catch {
      return null;
    }
  }
  return null;
}

/** The chatgroup an event is about, read before validating: replicas nobody listens on skip the rest. */
function chatgroupOf(envelope: RawEnvelope): string | null {
  const value = (envelope.payload as { chatgroupId?: unknown } | null)?.chatgroupId;
  return typeof value === "string" ? value : null;
}

/**
 * Turns stream entries into hub deliveries. Validation happens only for events some local
 * socket follows; entries that do not parse are logged and skipped (the stream consumer
 * of record, with its dead-letter stream, is elsewhere).
 */
export function createIntake(options: { hub: Hub; log: FastifyBaseLogger }) {
  const { hub, log } = options;

  function each(
    entries: StreamEntry[],
    handle: (type: string, tenantId: string, envelope: RawEnvelope) => void,
  ) {
    for (const [id, fields] of entries) {
      const envelope = envelopeOf(fields);
      if (!envelope || typeof envelope.type !== "string" || typeof envelope.tenantId !== "string") {
        log.warn({ streamId: id }, "unreadable stream entry skipped");
        continue;
      }
      try {
        handle(envelope.type, envelope.tenantId, envelope);
      } catch (error) {
        log.warn(
          { streamId: id, type: envelope.type, err: (error as Error).message },
          "stream entry skipped",
        );
      }
    }
  }

  return {
    chat(entries: StreamEntry[]) {
      each(entries, (type, tenantId, envelope) => {
        const chatgroupId = chatgroupOf(envelope);
        if (!chatgroupId || !hub.hasRoom(tenantId, chatgroupId)) return;
        if (type === "message.created") {
          const p = MessageCreatedWire.parse(envelope.payload);
          hub.deliver(tenantId, chatgroupId, "message", p.seq, () =>
            messageFrame({
              id: p.messageId,
              chatgroupId: p.chatgroupId,
              seq: p.seq,
              authorType: p.authorType,
              authorId: p.authorId,
              body: p.body,
              threadRootId: p.threadRootId,
              mentions: p.mentions,
              attachments: p.attachments,
              taskId: p.taskId,
              reactions: [],
              editedAt: null,
              deletedAt: null,
              createdAt: p.createdAt,
            }),
          );
        } else if (type === "message.changed") {
          const p = MessageChangedWire.parse(envelope.payload);
          hub.deliver(tenantId, chatgroupId, "change", p.seq, () => messageChangedFrame(p.message, p.change));
        }
      });
    },

    task(entries: StreamEntry[]) {
      each(entries, (type, tenantId, envelope) => {
        const chatgroupId = chatgroupOf(envelope);
        if (!chatgroupId || !hub.hasRoom(tenantId, chatgroupId)) return;
        if (type === "task.status") {
          const p = TaskStatusPayload.parse(envelope.payload);
          const { taskId, robotId, messageId, status, attempt, error } = p;
          hub.broadcast(
            tenantId,
            chatgroupId,
            taskStatusFrame({ chatgroupId, taskId, robotId, messageId, status, attempt, error }),
          );
        } else if (type === "task.progress") {
          const p = TaskProgressPayload.parse(envelope.payload);
          const { taskId, robotId, seq, kind, data } = p;
          hub.broadcast(
            tenantId,
            chatgroupId,
            taskProgressFrame({ chatgroupId, taskId, robotId, seq, kind, data }),
          );
        }
      });
    },

    identity(entries: StreamEntry[]) {
      each(entries, (type, tenantId, envelope) => {
        if (type === "membership.changed") {
          const p = MembershipChangedPayload.parse(envelope.payload);
          void hub.recheckUser(tenantId, p.userId);
        } else if (type === "principal.revoked") {
          const p = PrincipalRevokedPayload.parse(envelope.payload);
          if (p.kind === "user") {
            hub.closeWhere((conn) => conn.session.userId === p.id, realtimeCloseCodes.revoked, "revoked");
          } else if (p.kind === "session") {
            hub.closeWhere((conn) => conn.session.sessionId === p.id, realtimeCloseCodes.revoked, "revoked");
          }
        }
      });
    },
  };
}
