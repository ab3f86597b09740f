import { withTenant } from "@perseus/db";
import { ForbiddenError } from "@perseus/kit";
import type { AuthConfig } from "../../config.js";
import type { Services } from "../../deps.js";
import type { KeyStore } from "../../keys/key-store.js";
import { writeAudit } from "../../lib/audit.js";
import { contextOf } from "../../lib/context.js";
import type { Handlers } from "../../lib/handlers.js";

/** JWKS (public, cacheable) and owner-only key rotation. */
export function keysHandlers(
  deps: Pick<Services, "db"> & { keys: KeyStore; config: AuthConfig },
): Handlers<"jwks" | "listSigningKeys" | "rotateSigningKey"> {
  const platformOnly = (tenantId: string) => {
    const platform = deps.config.AUTH_PLATFORM_TENANT_ID;
    if (platform && platform !== tenantId)
      throw new ForbiddenError("only owners of the platform tenant manage signing keys");
  };
  return {
    jwks: async ({ reply }) => {
      // Short enough that a rotated-in key is seen well before it starts signing.
      reply.header("cache-control", "public, max-age=30, stale-while-revalidate=30");
      return deps.keys.jwks();
    },
    listSigningKeys: async ({ actor }) => {
      platformOnly(actor.tenantId);
      return { items: deps.keys.list() };
    },
    rotateSigningKey: async ({ actor, request, reply }) => {
      platformOnly(actor.tenantId);
      const rotated = await deps.keys.rotate();
      const ctx = contextOf(actor, request);
      await withTenant(deps.db, ctx, (tx) =>
        writeAudit(tx, ctx, {
          action: "signing_key.rotated",
          targetType: "signing_key",
          targetId: rotated.kid,
        }),
      );
      reply.code(201);
      return rotated;
    },
  };
}
