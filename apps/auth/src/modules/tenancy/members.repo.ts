import type { Member, TenantRole } from "@perseus/contracts";
import { type DbOrTx, schema } from "@perseus/db";
import { and, asc, eq, isNull, sql } from "drizzle-orm";

const { memberships, users, apiKeys, tenants } = schema;

const memberColumns = {
  userId: memberships.userId,
  email: users.email,
  name: users.name,
  handle: users.handle,
  role: memberships.role,
  disabledAt: memberships.disabledAt,
  createdAt: memberships.createdAt,
};
type MemberRow = {
  userId: string;
  email: string;
  name: string;
  handle: string;
  role: string;
  disabledAt: Date | null;
  createdAt: Date;
};

export function toMember(row: MemberRow): Member {
  return {
    userId: row.userId,
    email: row.email,
    name: row.name,
    handle: row.handle,
    role: row.role as TenantRole,
    disabled: row.disabledAt !== null,
    joinedAt: row.createdAt.toISOString(),
  };
}

export async function findMember(tx: DbOrTx, userId: string, options: { lock?: boolean } = {}) {
  const query = tx
    .select(memberColumns)
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(eq(memberships.userId, userId));
  const [row] = options.lock ? await query.for("update", { of: memberships }) : await query;
  return row;
}

/** Keyset pagination on (join time at millisecond precision, user id): the cursor carries both exactly. */
export async function listMembers(
  tx: DbOrTx,
  after: { joinedAt: string; userId: string } | null,
  limit: number,
) {
  const joined = sql`date_trunc('milliseconds', ${memberships.createdAt})`;
  return tx
    .select(memberColumns)
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(
      after
        ? sql`(${joined}, ${memberships.userId}) > (${new Date(after.joinedAt)}::timestamptz, ${after.userId}::uuid)`
        : undefined,
    )
    .orderBy(asc(joined), asc(memberships.userId))
    .limit(limit);
}

/** Active owners, locked: the last-owner rule is checked against a stable set. */
export async function lockOwners(tx: DbOrTx): Promise<string[]> {
  const rows = await tx
    .select({ userId: memberships.userId })
    .from(memberships)
    .where(and(eq(memberships.role, "owner"), isNull(memberships.disabledAt)))
    .for("update");
  return rows.map((row) => row.userId);
}

export async function setRole(tx: DbOrTx, userId: string, role: TenantRole) {
  await tx.update(memberships).set({ role }).where(eq(memberships.userId, userId));
}

export async function setDisabled(tx: DbOrTx, userId: string, disabled: boolean) {
  await tx
    .update(memberships)
    .set({ disabledAt: disabled ? new Date() : null })
    .where(eq(memberships.userId, userId));
}

export async function deleteMembership(tx: DbOrTx, userId: string) {
  await tx.delete(memberships).where(eq(memberships.userId, userId));
}

/** API keys act for their creator: they die with the creator's membership. */
export async function revokeKeysCreatedBy(tx: DbOrTx, userId: string): Promise<string[]> {
  const rows = await tx
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.createdBy, userId), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
  return rows.map((row) => row.id);
}

export async function getTenant(tx: DbOrTx) {
  const [row] = await tx.select().from(tenants);
  return row;
}

export async function renameTenant(tx: DbOrTx, name: string) {
  const [row] = await tx.update(tenants).set({ name }).where(sql`true`).returning();
  return row;
}
