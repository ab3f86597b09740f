import type { Chatgroup, ChatgroupVisibility, ScopedMember, Team } from "@perseus/contracts";
import { access, type DbOrTx, schema } from "@perseus/db";
import { and, asc, eq, inArray, isNull, sql } from "drizzle-orm";

const { teams, teamMembers, chatgroups, chatgroupMembers, memberships, users } = schema;

type TeamRow = typeof teams.$inferSelect;
type ChatgroupRow = typeof chatgroups.$inferSelect;

export const toTeam = (row: TeamRow): Team => ({
  id: row.id,
  name: row.name,
  archived: row.archivedAt !== null,
  createdAt: row.createdAt.toISOString(),
});

export const toChatgroup = (row: ChatgroupRow): Chatgroup => ({
  id: row.id,
  teamId: row.teamId,
  name: row.name,
  visibility: row.visibility as ChatgroupVisibility,
  archived: row.archivedAt !== null,
  createdAt: row.createdAt.toISOString(),
});

export async function findTeam(tx: DbOrTx, id: string, options: { lock?: boolean } = {}) {
  const query = tx.select().from(teams).where(eq(teams.id, id));
  const [row] = options.lock ? await query.for("update") : await query;
  return row;
}

export async function isTeamMember(tx: DbOrTx, teamId: string, userId: string) {
  const [row] = await tx
    .select({ userId: teamMembers.userId })
    .from(teamMembers)
    .where(and(eq(teamMembers.teamId, teamId), eq(teamMembers.userId, userId)));
  return row !== undefined;
}

export async function listTeams(tx: DbOrTx, options: { memberId?: string; includeArchived: boolean }) {
  return tx
    .select()
    .from(teams)
    .where(
      and(
        options.includeArchived ? undefined : isNull(teams.archivedAt),
        options.memberId
          ? sql`exists (select 1 from ${teamMembers} tm where tm.team_id = ${teams.id} and tm.user_id = ${options.memberId})`
          : undefined,
      ),
    )
    .orderBy(asc(teams.createdAt), asc(teams.id));
}

export async function isTenantMember(tx: DbOrTx, userId: string) {
  const [row] = await tx
    .select({ userId: memberships.userId })
    .from(memberships)
    .where(eq(memberships.userId, userId));
  return row !== undefined;
}

export async function countTenantMembers(tx: DbOrTx, userIds: string[]) {
  if (userIds.length === 0) return 0;
  const rows = await tx
    .select({ userId: memberships.userId })
    .from(memberships)
    .where(inArray(memberships.userId, userIds));
  return rows.length;
}

export async function listTeamMembers(tx: DbOrTx, teamId: string): Promise<ScopedMember[]> {
  return tx
    .select({ userId: teamMembers.userId, name: users.name, handle: users.handle })
    .from(teamMembers)
    .innerJoin(users, eq(users.id, teamMembers.userId))
    .where(eq(teamMembers.teamId, teamId))
    .orderBy(asc(teamMembers.createdAt), asc(teamMembers.userId));
}

export async function findChatgroup(tx: DbOrTx, id: string, options: { lock?: boolean } = {}) {
  const query = tx.select().from(chatgroups).where(eq(chatgroups.id, id));
  const [row] = options.lock ? await query.for("update") : await query;
  return row;
}

/** A chatgroup the viewer may see: managers see every one's metadata, others what they may read. */
export async function findVisibleChatgroup(
  tx: DbOrTx,
  id: string,
  viewer: { userId: string; isManager: boolean },
) {
  if (!viewer.isManager && !(await access.findReadableChatgroup(tx, viewer.userId, id))) return undefined;
  return findChatgroup(tx, id);
}

export async function listChatgroups(
  tx: DbOrTx,
  viewer: { userId: string; isManager: boolean },
  options: { teamId?: string | undefined; includeArchived: boolean },
) {
  const readable = viewer.isManager ? null : await access.listReadableChatgroupIds(tx, viewer.userId);
  if (readable && readable.length === 0) return [];
  return tx
    .select()
    .from(chatgroups)
    .where(
      and(
        readable ? inArray(chatgroups.id, readable) : undefined,
        options.teamId ? eq(chatgroups.teamId, options.teamId) : undefined,
        options.includeArchived ? undefined : isNull(chatgroups.archivedAt),
      ),
    )
    .orderBy(asc(chatgroups.createdAt), asc(chatgroups.id));
}

export async function listChatgroupMembers(tx: DbOrTx, chatgroupId: string): Promise<ScopedMember[]> {
  return tx
    .select({ userId: chatgroupMembers.userId, name: users.name, handle: users.handle })
    .from(chatgroupMembers)
    .innerJoin(users, eq(users.id, chatgroupMembers.userId))
    .where(eq(chatgroupMembers.chatgroupId, chatgroupId))
    .orderBy(asc(chatgroupMembers.createdAt), asc(chatgroupMembers.userId));
}
