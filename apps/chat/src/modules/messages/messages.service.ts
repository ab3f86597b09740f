import { enqueueEvents } from "@perseus/bus";
import type { CreateMessageBody, Message, MessageEdit } from "@perseus/contracts";
import { access, type Db, isUniqueViolation, schema, type Tx, withTenant } from "@perseus/db";
import { AppError, ConflictError, ForbiddenError, NotFoundError } from "@perseus/kit";
import { eq } from "drizzle-orm";
import { requireChatgroup } from "../../lib/access.js";
import { writeAudit } from "../../lib/audit.js";
import type { ServiceContext } from "../../lib/context.js";
import { messageChangedEvent } from "../../lib/events.js";
import { type Author, createPostBatcher, type PostResult } from "./messages.batcher.js";
import * as repo from "./messages.repo.js";
import { resolveMentions, storeMessage } from "./messages.store.js";

export type MessagesServiceDeps = { db: Db; maxMessageBytes: number };
export type MessagesService = ReturnType<typeof createMessagesService>;

function authorOf(ctx: ServiceContext): Author {
  if (ctx.actor.type === "user") return { type: "user", id: ctx.actor.userId };
  if (ctx.actor.type === "robot") return { type: "robot", id: ctx.actor.robotId };
  throw new ForbiddenError("API keys cannot post messages");
}

function requireUser(ctx: ServiceContext): string {
  if (ctx.actor.type !== "user") throw new ForbiddenError("only people can do this");
  return ctx.actor.userId;
}

export function createMessagesService(deps: MessagesServiceDeps) {
  const { db } = deps;

  const checkSize = (body: string) => {
    if (Buffer.byteLength(body, "utf8") > deps.maxMessageBytes) {
      throw new AppError("payload_too_large", `message bodies are limited to ${deps.maxMessageBytes} bytes`);
    }
  };

  /** The message, locked for a change, after checking the actor may see its chatgroup. */
  async function lockVisibleMessage(tx: Tx, ctx: ServiceContext, messageId: string, forWriting: boolean) {
    const [row] = await tx
      .select(repo.messageColumns)
      .from(schema.messages)
      .where(eq(schema.messages.id, messageId))
      .for("update");
    if (!row) throw new NotFoundError("message");
    try {
      await requireChatgroup(tx, ctx.actor, row.chatgroupId, { forWriting });
    } catch {
      throw new NotFoundError("message");
    }
    return row;
  }

  async function messageWithReactions(tx: Tx, row: repo.StoredMessage): Promise<Message> {
    const [message] = await repo.withReactions(tx, [row]);
    if (!message) throw new Error("unreachable: one row in, one message out");
    return message;
  }

  async function findReplay(ctx: ServiceContext, chatgroupId: string, author: Author, clientKey: string) {
    return withTenant(db, ctx, async (tx) => {
      const row = await repo.findByClientKey(tx, { chatgroupId, authorId: author.id, clientKey });
      return row ? messageWithReactions(tx, row) : null;
    });
  }

  /** One post in a transaction of its own. */
  async function postOne(
    ctx: ServiceContext,
    chatgroupId: string,
    input: CreateMessageBody,
  ): Promise<PostResult> {
    const author = authorOf(ctx);
    try {
      return await withTenant(db, ctx, async (tx) => {
        const chatgroup = await requireChatgroup(tx, ctx.actor, chatgroupId, { forWriting: true });
        if (input.clientKey) {
          const existing = await repo.findByClientKey(tx, {
            chatgroupId,
            authorId: author.id,
            clientKey: input.clientKey,
          });
          if (existing) return { message: await messageWithReactions(tx, existing), isReplay: true };
        }
        const message = await storeMessage(tx, {
          tenantId: ctx.tenantId,
          chatgroup,
          authorType: author.type,
          authorId: author.id,
          body: input.body,
          threadRootId: input.threadRootId,
          attachments: input.attachments,
          clientKey: input.clientKey,
        });
        return { message, isReplay: false };
      });
    } catch (error) {
      // A concurrent retry with the same key committed first: ours rolled back (seq
      // included, so no gap) and the first message is the answer.
      if (input.clientKey && isUniqueViolation(error)) {
        const existing = await findReplay(ctx, chatgroupId, author, input.clientKey);
        if (existing) return { message: existing, isReplay: true };
      }
      throw error;
    }
  }
  const batcher = createPostBatcher({ db, postOne });

  return {
    /**
     * Posts a message; `isReplay` when a message with the same clientKey already existed.
     * Concurrent posts share transactions (group commit, see messages.batcher.ts).
     */
    async post(ctx: ServiceContext, chatgroupId: string, input: CreateMessageBody): Promise<PostResult> {
      checkSize(input.body);
      return batcher.post(ctx, chatgroupId, input, authorOf(ctx));
    },

    async get(ctx: ServiceContext, messageId: string): Promise<Message> {
      return withTenant(db, ctx, async (tx) => {
        const row = await repo.findMessage(tx, messageId);
        if (!row) throw new NotFoundError("message");
        try {
          await requireChatgroup(tx, ctx.actor, row.chatgroupId);
        } catch {
          throw new NotFoundError("message");
        }
        return messageWithReactions(tx, row);
      });
    },

    async edit(ctx: ServiceContext, messageId: string, body: string): Promise<Message> {
      const userId = requireUser(ctx);
      checkSize(body);
      return withTenant(db, ctx, async (tx) => {
        const row = await lockVisibleMessage(tx, ctx, messageId, true);
        if (row.authorType !== "user" || row.authorId !== userId)
          throw new ForbiddenError("only the author may edit a message");
        if (row.deletedAt) throw new ConflictError("the message was deleted");
        if (row.body === body) return messageWithReactions(tx, row);
        const chatgroup = await requireChatgroup(tx, ctx.actor, row.chatgroupId, { forWriting: true });
        await repo.recordEdit(tx, ctx.tenantId, row.id, row.body);
        const mentions = await resolveMentions(tx, chatgroup, body, "user");
        const updated = await messageWithReactions(tx, await repo.updateBody(tx, row.id, { body, mentions }));
        await writeAudit(tx, ctx, "message.edited", { type: "message", id: row.id }, { seq: row.seq });
        await enqueueEvents(tx, [messageChangedEvent(ctx.tenantId, updated, "edited")]);
        return updated;
      });
    },

    /** Deletes as the author or as a tenant owner/admin; deleting a tombstone again is a no-op. */
    async remove(ctx: ServiceContext, messageId: string): Promise<Message> {
      const userId = requireUser(ctx);
      return withTenant(db, ctx, async (tx) => {
        const row = await lockVisibleMessage(tx, ctx, messageId, false);
        const isAuthor = row.authorType === "user" && row.authorId === userId;
        if (!isAuthor) {
          const role = await access.getTenantRole(tx, userId);
          if (role !== "owner" && role !== "admin")
            throw new ForbiddenError("only the author or a tenant owner/admin may delete a message");
        }
        if (row.deletedAt) return repo.toMessage(row);
        const deleted = repo.toMessage(await repo.tombstone(tx, row.id));
        await writeAudit(
          tx,
          ctx,
          "message.deleted",
          { type: "message", id: row.id },
          { seq: row.seq, chatgroupId: row.chatgroupId, byAuthor: isAuthor },
        );
        await enqueueEvents(tx, [messageChangedEvent(ctx.tenantId, deleted, "deleted")]);
        return deleted;
      });
    },

    async listEdits(ctx: ServiceContext, messageId: string): Promise<MessageEdit[]> {
      return withTenant(db, ctx, async (tx) => {
        const row = await repo.findMessage(tx, messageId);
        if (!row) throw new NotFoundError("message");
        try {
          await requireChatgroup(tx, ctx.actor, row.chatgroupId);
        } catch {
          throw new NotFoundError("message");
        }
        if (row.deletedAt) return [];
        const edits = await repo.listEdits(tx, messageId);
        return edits.map((edit) => ({ ...edit, editedAt: edit.editedAt.toISOString() }));
      });
    },

    async react(ctx: ServiceContext, messageId: string, emoji: string, isAdding: boolean): Promise<Message> {
      const userId = requireUser(ctx);
      return withTenant(db, ctx, async (tx) => {
        const row = await lockVisibleMessage(tx, ctx, messageId, true);
        if (row.deletedAt) throw new ConflictError("the message was deleted");
        const key = { tenantId: ctx.tenantId, messageId, userId, emoji };
        const isChanged = isAdding ? await repo.addReaction(tx, key) : await repo.removeReaction(tx, key);
        const message = await messageWithReactions(tx, row);
        if (isChanged) await enqueueEvents(tx, [messageChangedEvent(ctx.tenantId, message, "reactions")]);
        return message;
      });
    },
  };
}
