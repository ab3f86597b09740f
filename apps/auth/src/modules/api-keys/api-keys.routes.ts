import { contextOf } from "../../lib/context.js";
import { type Handlers, requireUser } from "../../lib/handlers.js";
import type { ApiKeysService } from "./api-keys.service.js";

export function apiKeysHandlers(
  apiKeys: ApiKeysService,
): Handlers<"listApiKeys" | "createApiKey" | "revokeApiKey"> {
  return {
    listApiKeys: ({ actor, request }) => apiKeys.list(contextOf(actor, request)),
    createApiKey: async ({ actor, body, request, reply }) => {
      const user = requireUser(actor);
      reply.code(201);
      reply.header("cache-control", "no-store");
      return apiKeys.create({ ...contextOf(user, request), actor: user }, body);
    },
    revokeApiKey: async ({ actor, params, request, reply }) => {
      await apiKeys.revoke(contextOf(actor, request), params.id);
      reply.code(204);
      return null;
    },
  };
}
