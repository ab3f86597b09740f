import { randomBytes } from "node:crypto";
import { type Db, schema, withTenant } from "@perseus/db";
import { v7 as uuidv7 } from "uuid";

export type TenantFixture = {
  tenantId: string;
  owner: { id: string; email: string; handle: string };
  teamId: string;
  chatgroupId: string;
};

const suffix = () => randomBytes(4).toString("hex");

/** Creates a user (global identity) with a unique email and handle. */
export async function createUser(
  db: Db,
  overrides: Partial<{ name: string; email: string; handle: string }> = {},
) {
  const tag = suffix();
  const user = {
    id: uuidv7(),
    email: overrides.email ?? `user-${tag}@example.test`,
    name: overrides.name ?? `User ${tag}`,
    handle: overrides.handle ?? `user${tag}`,
  };
  await db.insert(schema.users).values(user);
  return user;
}

/**
 * A tenant of its own for one test: an owner, a team the owner is in, and a team-wide
 * chatgroup. Written through the application role, so RLS applies as in production.
 */
export async function createTenant(db: Db, options: { name?: string } = {}): Promise<TenantFixture> {
  const tenantId = uuidv7();
  const owner = await createUser(db);
  const teamId = uuidv7();
  const chatgroupId = uuidv7();
  await withTenant(db, { tenantId }, async (tx) => {
    await tx.insert(schema.tenants).values({ tenantId, name: options.name ?? `Tenant ${suffix()}` });
    await tx.insert(schema.memberships).values({ tenantId, userId: owner.id, role: "owner" });
    await tx.insert(schema.teams).values({ tenantId, id: teamId, name: "General" });
    await tx.insert(schema.teamMembers).values({ tenantId, teamId, userId: owner.id });
    await tx.insert(schema.chatgroups).values({ tenantId, id: chatgroupId, teamId, name: "general" });
  });
  return { tenantId, owner, teamId, chatgroupId };
}

/** Adds a user to a tenant with a role, and to a team when given. */
export async function addMember(
  db: Db,
  tenantId: string,
  userId: string,
  role: "owner" | "admin" | "user",
  teamId?: string,
) {
  await withTenant(db, { tenantId }, async (tx) => {
    await tx.insert(schema.memberships).values({ tenantId, userId, role });
    if (teamId) await tx.insert(schema.teamMembers).values({ tenantId, teamId, userId });
  });
}
