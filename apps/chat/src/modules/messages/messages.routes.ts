import { chatRoutes } from "@perseus/contracts";
import { registerRoutes, ValidationError } from "@perseus/kit";
import type { FastifyInstance } from "fastify";
import { contextOf } from "../../lib/context.js";
import type { MessagesService } from "./messages.service.js";

const routes = {
  postMessage: chatRoutes.postMessage,
  getMessage: chatRoutes.getMessage,
  editMessage: chatRoutes.editMessage,
  deleteMessage: chatRoutes.deleteMessage,
  listMessageEdits: chatRoutes.listMessageEdits,
  addReaction: chatRoutes.addReaction,
  removeReaction: chatRoutes.removeReaction,
};

export function registerMessageRoutes(app: FastifyInstance, prefix: string, service: MessagesService) {
  registerRoutes(app, prefix, routes, {
    postMessage: async ({ actor, params, body, headers, request, reply }) => {
      const headerKey = headers["idempotency-key"];
      if (headerKey !== undefined && body.clientKey !== undefined && headerKey !== body.clientKey) {
        throw new ValidationError("Idempotency-Key and clientKey differ", [
          { location: "headers", path: "idempotency-key", message: "must equal the body's clientKey" },
        ]);
      }
      const input = headerKey === undefined ? body : { ...body, clientKey: headerKey };
      const { message, isReplay } = await service.post(contextOf(actor, request), params.chatgroupId, input);
      reply.code(isReplay ? 200 : 201);
      return message;
    },
    getMessage: async ({ actor, params, request }) =>
      service.get(contextOf(actor, request), params.messageId),
    editMessage: async ({ actor, params, body, request }) =>
      service.edit(contextOf(actor, request), params.messageId, body.body),
    deleteMessage: async ({ actor, params, request }) =>
      service.remove(contextOf(actor, request), params.messageId),
    listMessageEdits: async ({ actor, params, request }) => ({
      items: await service.listEdits(contextOf(actor, request), params.messageId),
    }),
    addReaction: async ({ actor, params, request }) =>
      service.react(contextOf(actor, request), params.messageId, params.emoji, true),
    removeReaction: async ({ actor, params, request }) =>
      service.react(contextOf(actor, request), params.messageId, params.emoji, false),
  });
}
