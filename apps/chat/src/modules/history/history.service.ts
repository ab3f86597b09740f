import {
  type ChatgroupActivity,
  decodeCursor,
  encodeCursor,
  Id,
  type ListMessagesQuery,
  type MessagePage,
  type ReadMarkerResponse,
  type SearchMessagesQuery,
  type SearchMessagesResponse,
} from "@perseus/contracts";
import { access, type Db, withTenant } from "@perseus/db";
import { ForbiddenError, NotFoundError, ValidationError } from "@perseus/kit";
import { z } from "zod";
import { requireChatgroup } from "../../lib/access.js";
import type { ServiceContext } from "../../lib/context.js";
import { getLastSeq, withReactions } from "../messages/messages.repo.js";
import * as repo from "./history.repo.js";

export type HistoryServiceDeps = {
  db: Db;
  /** Tells the user's other open sockets (any replica) that the read marker moved. */
  onReadMarker?: (marker: { tenantId: string; userId: string; chatgroupId: string; seq: number }) => void;
};
export type HistoryService = ReturnType<typeof createHistoryService>;

const SearchCursor = z.object({ id: Id });

function requireUser(ctx: ServiceContext): string {
  if (ctx.actor.type !== "user") throw new ForbiddenError("only people can do this");
  return ctx.actor.userId;
}

function windowFor(query: ListMessagesQuery, lastSeq: number, aroundSeq: number | null) {
  const { limit } = query;
  if (aroundSeq !== null) {
    const older = Math.floor(limit / 2);
    return { pivot: aroundSeq, older, newer: limit - older };
  }
  if (query.before !== undefined) return { pivot: query.before, older: limit, newer: 0 };
  if (query.after !== undefined) return { pivot: query.after + 1, older: 0, newer: limit };
  return { pivot: lastSeq + 1, older: limit, newer: 0 };
}

export function createHistoryService(deps: HistoryServiceDeps) {
  const { db } = deps;
  return {
    async listMessages(
      ctx: ServiceContext,
      chatgroupId: string,
      query: ListMessagesQuery,
    ): Promise<MessagePage> {
      return withTenant(db, ctx, async (tx) => {
        await requireChatgroup(tx, ctx.actor, chatgroupId);
        const lastSeq = await getLastSeq(tx, chatgroupId);
        let aroundSeq: number | null = null;
        if (query.around) {
          aroundSeq = await repo.findSeq(tx, chatgroupId, query.around);
          if (aroundSeq === null) throw new NotFoundError("message");
        }
        const page = await repo.readWindow(tx, {
          chatgroupId,
          threadRootId: query.threadRootId,
          ...windowFor(query, lastSeq, aroundSeq),
        });
        return {
          items: await withReactions(tx, page.rows),
          hasMoreBefore: page.hasMoreBefore,
          hasMoreAfter: page.hasMoreAfter,
          lastSeq,
        };
      });
    },

    async search(ctx: ServiceContext, query: SearchMessagesQuery): Promise<SearchMessagesResponse> {
      const userId = requireUser(ctx);
      let beforeId: string | undefined;
      if (query.cursor) {
        const cursor = decodeCursor(query.cursor, SearchCursor);
        if (!cursor)
          throw new ValidationError("invalid cursor", [
            { location: "query", path: "cursor", message: "invalid cursor" },
          ]);
        beforeId = cursor.id;
      }
      return withTenant(db, ctx, async (tx) => {
        let chatgroupIds = await access.listReadableChatgroupIds(tx, userId);
        if (query.chatgroupId) {
          if (!chatgroupIds.includes(query.chatgroupId)) throw new NotFoundError("chatgroup");
          chatgroupIds = [query.chatgroupId];
        }
        const rows = await repo.searchMessages(tx, {
          chatgroupIds,
          query: query.q,
          limit: query.limit + 1,
          beforeId,
        });
        const page = rows.slice(0, query.limit);
        const last = page.at(-1);
        return {
          items: await withReactions(tx, page),
          nextCursor: rows.length > query.limit && last ? encodeCursor({ id: last.id }) : null,
        };
      });
    },

    async listChatgroups(ctx: ServiceContext): Promise<ChatgroupActivity[]> {
      const userId = requireUser(ctx);
      return withTenant(db, ctx, async (tx) => {
        const ids = await access.listReadableChatgroupIds(tx, userId);
        return repo.listActivity(tx, userId, ids);
      });
    },

    async markRead(ctx: ServiceContext, chatgroupId: string, seq: number): Promise<ReadMarkerResponse> {
      const userId = requireUser(ctx);
      const result = await withTenant(db, ctx, async (tx) => {
        await requireChatgroup(tx, ctx.actor, chatgroupId);
        const key = { tenantId: ctx.tenantId, chatgroupId, userId };
        const lastReadSeq = await repo.advanceReadMarker(tx, key, seq);
        const unreadCount = await repo.countUnread(tx, chatgroupId, userId, lastReadSeq);
        return { chatgroupId, lastReadSeq, unreadCount };
      });
      deps.onReadMarker?.({ tenantId: ctx.tenantId, userId, chatgroupId, seq: result.lastReadSeq });
      return result;
    },
  };
}
