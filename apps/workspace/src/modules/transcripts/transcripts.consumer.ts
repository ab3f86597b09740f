import { Readable } from "node:stream";
import { type BusLogger, createStreamConsumer, type StreamConsumer } from "@perseus/bus";
import type { DomainEvent } from "@perseus/contracts";
import { access, type Db, withTenant } from "@perseus/db";
import { AppError } from "@perseus/kit";
import type { Redis } from "ioredis";
import type { createFilesWriter } from "../files/files.mutations.js";

type FilesWriter = ReturnType<typeof createFilesWriter>;

/**
 * Writes the transcripts of recorded terminal sessions (`terminal.recorded`, published by
 * dispatch when a session closes) into the chatgroup's layer, on behalf of the person who
 * opened the session: their access to the chatgroup and the tenant's quota apply as to
 * any upload. Delivery is at-least-once; a transcript already written is left alone
 * (create-only write), and one that can never be written (access gone, quota) is logged
 * and dropped rather than retried forever.
 */
export function createTranscriptConsumer(options: {
  db: Db;
  redis: Redis;
  prefix: string;
  instanceId: string;
  writer: FilesWriter;
  log: BusLogger;
}): StreamConsumer {
  const { db, writer, log } = options;
  return createStreamConsumer({
    redis: options.redis,
    prefix: options.prefix,
    topic: "terminal",
    group: "workspace",
    consumer: options.instanceId,
    startFrom: "0",
    blockMs: 1_000,
    log,
    handle: async (event: DomainEvent) => {
      if (event.type !== "terminal.recorded") return;
      const { payload } = event;
      const role = await withTenant(db, { tenantId: event.tenantId }, (tx) =>
        access.getTenantRole(tx, payload.openedBy),
      );
      if (!role) {
        log.warn({ sessionId: payload.sessionId }, "terminal transcript dropped: its opener left the tenant");
        return;
      }
      const transcript = Buffer.from(payload.transcript, "base64");
      try {
        await writer.write(
          {
            tenantId: event.tenantId,
            actor: { type: "user", userId: payload.openedBy, tenantId: event.tenantId, role },
            requestId: `terminal-${payload.sessionId}`,
            ip: "",
          },
          { layer: "chatgroup", layerId: payload.chatgroupId },
          payload.path,
          { ifNoneMatch: "*" },
          { body: Readable.from([transcript]), contentLength: transcript.length, contentType: "text/plain" },
        );
      } catch (error) {
        if (error instanceof AppError && error.status === 412) return; // written by an earlier delivery
        if (error instanceof AppError && error.status < 500) {
          log.warn(
            { sessionId: payload.sessionId, err: error.message },
            "terminal transcript could not be written; dropped",
          );
          return;
        }
        throw error;
      }
    },
  });
}
