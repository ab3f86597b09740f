import { createEvent, enqueueEvents } from "@perseus/bus";
import type { ApiKey, ApiKeyScope, CreateApiKeyBody, CreateApiKeyResponse } from "@perseus/contracts";
import { schema, withTenant } from "@perseus/db";
import { ForbiddenError, hashApiKeySecret, NotFoundError, ValidationError } from "@perseus/kit";
import { desc, eq } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import type { Services } from "../../deps.js";
import { writeAudit } from "../../lib/audit.js";
import type { Ctx } from "../../lib/context.js";
import type { UserActor } from "../../lib/handlers.js";
import { formatCredential, newSecret } from "../../lib/secrets.js";
import { scopesAllowedFor } from "../../rbac.js";

const { apiKeys } = schema;
type ApiKeyRow = typeof apiKeys.$inferSelect;

const toApiKey = (row: ApiKeyRow): ApiKey => ({
  id: row.id,
  name: row.name,
  scopes: row.scopes as ApiKeyScope[],
  rateLimit: row.rateLimit,
  createdBy: row.createdBy,
  expiresAt: row.expiresAt?.toISOString() ?? null,
  lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  revokedAt: row.revokedAt?.toISOString() ?? null,
  createdAt: row.createdAt.toISOString(),
});

export function createApiKeysService(
  deps: Pick<Services, "db" | "revoke"> & { onRevoked?: (keyId: string) => void },
) {
  const { db } = deps;
  return {
    /** A key never gets a scope its creator's role could not use. */
    create: (ctx: Ctx & { actor: UserActor }, body: CreateApiKeyBody): Promise<CreateApiKeyResponse> => {
      const allowed = scopesAllowedFor(ctx.actor.role);
      const denied = body.scopes.filter((scope) => !allowed.includes(scope));
      if (denied.length) throw new ForbiddenError(`your role cannot grant: ${denied.join(", ")}`);
      if (body.expiresAt && Date.parse(body.expiresAt) <= Date.now())
        throw new ValidationError("expiresAt must be in the future", [
          { location: "body", path: "expiresAt", message: "must be in the future" },
        ]);
      return withTenant(db, ctx, async (tx) => {
        const id = uuidv7();
        const secret = newSecret();
        const [row] = await tx
          .insert(apiKeys)
          .values({
            tenantId: ctx.tenantId,
            id,
            name: body.name,
            secretHash: hashApiKeySecret(secret),
            scopes: [...new Set(body.scopes)],
            rateLimit: body.rateLimit,
            createdBy: ctx.actor.userId,
            expiresAt: body.expiresAt ? new Date(body.expiresAt) : null,
          })
          .returning();
        await writeAudit(tx, ctx, {
          action: "api_key.created",
          targetType: "api_key",
          targetId: id,
          data: { name: body.name, scopes: body.scopes, rateLimit: body.rateLimit },
        });
        return { apiKey: toApiKey(row as ApiKeyRow), key: formatCredential("pak", ctx.tenantId, id, secret) };
      });
    },

    list: (ctx: Ctx) =>
      withTenant(db, ctx, async (tx) => ({
        items: (await tx.select().from(apiKeys).orderBy(desc(apiKeys.createdAt))).map(toApiKey),
      })),

    async revoke(ctx: Ctx, id: string): Promise<void> {
      const at = new Date();
      const changed = await withTenant(db, ctx, async (tx) => {
        const [row] = await tx.select().from(apiKeys).where(eq(apiKeys.id, id)).for("update");
        if (!row) throw new NotFoundError("API key");
        if (row.revokedAt) return false;
        await tx.update(apiKeys).set({ revokedAt: at }).where(eq(apiKeys.id, id));
        await writeAudit(tx, ctx, { action: "api_key.revoked", targetType: "api_key", targetId: id });
        await enqueueEvents(tx, [
          createEvent("principal.revoked", ctx.tenantId, {
            kind: "api_key",
            id,
            notBefore: at.toISOString(),
          }),
        ]);
        return true;
      });
      if (changed) {
        deps.onRevoked?.(id);
        await deps.revoke("api_key", id, at.getTime());
      }
    },
  };
}
export type ApiKeysService = ReturnType<typeof createApiKeysService>;
