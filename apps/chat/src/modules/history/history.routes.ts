import { chatRoutes } from "@perseus/contracts";
import { registerRoutes } from "@perseus/kit";
import type { FastifyInstance } from "fastify";
import { contextOf } from "../../lib/context.js";
import type { HistoryService } from "./history.service.js";

const routes = {
  listChatgroups: chatRoutes.listChatgroups,
  listMessages: chatRoutes.listMessages,
  searchMessages: chatRoutes.searchMessages,
  markRead: chatRoutes.markRead,
};

export function registerHistoryRoutes(app: FastifyInstance, prefix: string, service: HistoryService) {
  registerRoutes(app, prefix, routes, {
    listChatgroups: async ({ actor, request }) => ({
      items: await service.listChatgroups(contextOf(actor, request)),
    }),
    listMessages: async ({ actor, params, query, request }) =>
      service.listMessages(contextOf(actor, request), params.chatgroupId, query),
    searchMessages: async ({ actor, query, request }) => service.search(contextOf(actor, request), query),
    markRead: async ({ actor, params, body, request }) =>
      service.markRead(contextOf(actor, request), params.chatgroupId, body.seq),
  });
}
