import type { TenantRole } from "@perseus/contracts";
import { type DbOrTx, schema, sql } from "@perseus/db";
import { and, desc, eq, isNull } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import { newSecret, sha256 } from "../../lib/secrets.js";

const { users, refreshTokens, memberships, tenants } = schema;

export type UserRow = typeof users.$inferSelect;
export type RefreshRow = typeof refreshTokens.$inferSelect;
export type TenantMembership = { tenantId: string; name: string; role: TenantRole; disabled: boolean };

export async function findUserByEmail(db: DbOrTx, email: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(sql`lower(${users.email}) = lower(${email})`);
  return row;
}

export async function findUserById(db: DbOrTx, id: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id));
  return row;
}

/** Every tenant of a user, through the narrow cross-tenant definer function. */
export async function listUserTenants(db: DbOrTx, userId: string): Promise<TenantMembership[]> {
  const result = await db.execute<{ tenant_id: string; name: string; role: string; disabled: boolean }>(
    sql`select tenant_id, name, role, disabled from perseus_sys.auth_user_tenants(${userId})`,
  );
  return result.rows.map((row) => ({
    tenantId: row.tenant_id,
    name: row.name,
    role: row.role as TenantRole,
    disabled: row.disabled,
  }));
}

/** The caller's membership in the tenant of the current transaction, if active. */
export async function findActiveMembership(
  tx: DbOrTx,
  userId: string,
): Promise<{ role: TenantRole; tenantName: string } | null> {
  const [row] = await tx
    .select({ role: memberships.role, tenantName: tenants.name })
    .from(memberships)
    .innerJoin(tenants, eq(tenants.tenantId, memberships.tenantId))
    .where(and(eq(memberships.userId, userId), isNull(memberships.disabledAt), eq(tenants.status, "active")));
  return row ? { role: row.role as TenantRole, tenantName: row.tenantName } : null;
}

export async function insertRefreshToken(
  db: DbOrTx,
  input: { familyId: string; userId: string; tenantId: string; ttlDays: number },
): Promise<{ id: string; secret: string }> {
  const id = uuidv7();
  const secret = newSecret();
  await db.insert(refreshTokens).values({
    id,
    familyId: input.familyId,
    userId: input.userId,
    tenantId: input.tenantId,
    tokenHash: sha256(secret),
    expiresAt: new Date(Date.now() + input.ttlDays * 86_400_000),
  });
  return { id, secret };
}

/** Locks the refresh row of a presented secret (rotation is serialised per credential). */
export async function lockRefreshToken(db: DbOrTx, secret: string): Promise<RefreshRow | undefined> {
  const [row] = await db
    .select()
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, sha256(secret)))
    .for("update");
  return row;
}

export async function lockRefreshTokenById(db: DbOrTx, id: string): Promise<RefreshRow | undefined> {
  const [row] = await db.select().from(refreshTokens).where(eq(refreshTokens.id, id)).for("update");
  return row;
}

/** Revokes every live credential of a family; answers how many were live. */
export async function revokeFamily(db: DbOrTx, familyId: string): Promise<number> {
  const rows = await db
    .update(refreshTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)))
    .returning({ id: refreshTokens.id });
  return rows.length;
}

export async function revokeUserRefreshTokens(
  db: DbOrTx,
  userId: string,
  tenantId?: string,
): Promise<string[]> {
  const rows = await db
    .update(refreshTokens)
    .set({ revokedAt: new Date() })
    .where(
      and(
        eq(refreshTokens.userId, userId),
        isNull(refreshTokens.revokedAt),
        tenantId ? eq(refreshTokens.tenantId, tenantId) : undefined,
      ),
    )
    .returning({ familyId: refreshTokens.familyId });
  return [...new Set(rows.map((row) => row.familyId))];
}

/** The tenant the user signed in to most recently (a hint for the default tenant). */
export async function lastUsedTenant(db: DbOrTx, userId: string): Promise<string | null> {
  const [row] = await db
    .select({ tenantId: refreshTokens.tenantId })
    .from(refreshTokens)
    .where(eq(refreshTokens.userId, userId))
    .orderBy(desc(refreshTokens.createdAt))
    .limit(1);
  return row?.tenantId ?? null;
}
