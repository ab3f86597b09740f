import type { Capability, Robot, RobotCredential, RobotScopes } from "@perseus/contracts";
import { type DbOrTx, schema } from "@perseus/db";
import { and, asc, eq, inArray, isNull } from "drizzle-orm";

const { robots, robotScopes, robotCredentials, teams, chatgroups, memberships, users } = schema;
export type RobotRow = typeof robots.$inferSelect;
type CredentialRow = typeof robotCredentials.$inferSelect;

export function toRobot(row: RobotRow, scopes: RobotScopes): Robot {
  return {
    id: row.id,
    handle: row.handle,
    name: row.name,
    description: row.description,
    capabilities: row.capabilities as Capability[],
    maxConcurrency: row.maxConcurrency,
    scopes,
    configVersion: row.configVersion,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}

export const toCredential = (row: CredentialRow): RobotCredential => ({
  id: row.id,
  robotId: row.robotId,
  createdAt: row.createdAt.toISOString(),
  lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  revokedAt: row.revokedAt?.toISOString() ?? null,
});

export async function findRobot(tx: DbOrTx, id: string, options: { lock?: boolean } = {}) {
  const query = tx.select().from(robots).where(eq(robots.id, id));
  const [row] = options.lock ? await query.for("update") : await query;
  return row;
}

export async function listRobots(tx: DbOrTx) {
  return tx.select().from(robots).orderBy(asc(robots.createdAt), asc(robots.id));
}

/** Scopes of several robots at once, keyed by robot id. */
export async function scopesOf(tx: DbOrTx, robotIds: string[]): Promise<Map<string, RobotScopes>> {
  const result = new Map<string, RobotScopes>(
    robotIds.map((id) => [id, { tenant: false, teamIds: [], chatgroupIds: [] }]),
  );
  if (robotIds.length === 0) return result;
  const rows = await tx.select().from(robotScopes).where(inArray(robotScopes.robotId, robotIds));
  for (const row of rows) {
    const scopes = result.get(row.robotId);
    if (!scopes) continue;
    if (row.scopeType === "tenant") scopes.tenant = true;
    else if (row.scopeType === "team") scopes.teamIds.push(row.scopeId);
    else if (row.scopeType === "chatgroup") scopes.chatgroupIds.push(row.scopeId);
  }
  return result;
}

/** Replaces a robot's scopes; false when a named team or chatgroup is not in this tenant. */
export async function replaceScopes(tx: DbOrTx, tenantId: string, robotId: string, scopes: RobotScopes) {
  const teamIds = [...new Set(scopes.teamIds)];
  const chatgroupIds = [...new Set(scopes.chatgroupIds)];
  if (teamIds.length) {
    const found = await tx.select({ id: teams.id }).from(teams).where(inArray(teams.id, teamIds));
    if (found.length !== teamIds.length) return false;
  }
  if (chatgroupIds.length) {
    const found = await tx
      .select({ id: chatgroups.id })
      .from(chatgroups)
      .where(inArray(chatgroups.id, chatgroupIds));
    if (found.length !== chatgroupIds.length) return false;
  }
  await tx.delete(robotScopes).where(eq(robotScopes.robotId, robotId));
  const rows = [
    ...(scopes.tenant ? [{ scopeType: "tenant", scopeId: tenantId }] : []),
    ...teamIds.map((scopeId) => ({ scopeType: "team", scopeId })),
    ...chatgroupIds.map((scopeId) => ({ scopeType: "chatgroup", scopeId })),
  ];
  if (rows.length) await tx.insert(robotScopes).values(rows.map((row) => ({ tenantId, robotId, ...row })));
  return true;
}

/** Whether a member of this tenant already uses the handle (mentions must stay unambiguous). */
export async function isMemberHandle(tx: DbOrTx, handle: string) {
  const [row] = await tx
    .select({ id: users.id })
    .from(users)
    .innerJoin(memberships, eq(memberships.userId, users.id))
    .where(eq(users.handle, handle))
    .limit(1);
  return row !== undefined;
}

export async function listCredentials(tx: DbOrTx, robotId: string) {
  return tx
    .select()
    .from(robotCredentials)
    .where(eq(robotCredentials.robotId, robotId))
    .orderBy(asc(robotCredentials.createdAt));
}

export async function revokeCredentials(tx: DbOrTx, robotId: string) {
  return tx
    .update(robotCredentials)
    .set({ revokedAt: new Date() })
    .where(and(eq(robotCredentials.robotId, robotId), isNull(robotCredentials.revokedAt)))
    .returning({ id: robotCredentials.id });
}
