import { and, eq, inArray, isNull, or, sql } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import {
  chatgroupMembers,
  chatgroups,
  memberships,
  robotScopes,
  robots,
  teamMembers,
  users,
} from "../schema/auth.js";
import { tasks } from "../schema/dispatch.js";

/**
 * Access questions several services ask about identity data (owned and written by the
 * auth service). Every query runs inside a tenant transaction, so RLS scopes it too.
 */

export async function getTenantRole(tx: DbOrTx, userId: string): Promise<"owner" | "admin" | "user" | null> {
  const [row] = await tx
    .select({ role: memberships.role })
    .from(memberships)
    .where(eq(memberships.userId, userId));
  return (row?.role as "owner" | "admin" | "user" | undefined) ?? null;
}

export type ChatgroupAccess = { chatgroupId: string; teamId: string; name: string; isArchived: boolean };

/**
 * The chatgroup if `userId` may read it: a team-wide chatgroup is open to its team's
 * members, a private one to its explicit members. Owners and admins do not get private
 * chatgroups implicitly.
 */
export async function findReadableChatgroup(
  tx: DbOrTx,
  userId: string,
  chatgroupId: string,
): Promise<ChatgroupAccess | null> {
  const [row] = await tx
    .select({
      chatgroupId: chatgroups.id,
      teamId: chatgroups.teamId,
      name: chatgroups.name,
      archivedAt: chatgroups.archivedAt,
    })
    .from(chatgroups)
    .where(
      and(
        eq(chatgroups.id, chatgroupId),
        or(
          and(
            eq(chatgroups.visibility, "team"),
            sql`exists (select 1 from ${teamMembers} tm where tm.team_id = ${chatgroups.teamId} and tm.user_id = ${userId})`,
          ),
          sql`exists (select 1 from ${chatgroupMembers} cm where cm.chatgroup_id = ${chatgroups.id} and cm.user_id = ${userId})`,
        ),
      ),
    );
  return row
    ? {
        chatgroupId: row.chatgroupId,
        teamId: row.teamId,
        name: row.name,
        isArchived: row.archivedAt !== null,
      }
    : null;
}

/** Ids of the chatgroups `userId` may read (for search and unread counts). */
export async function listReadableChatgroupIds(tx: DbOrTx, userId: string): Promise<string[]> {
  const rows = await tx
    .select({ id: chatgroups.id })
    .from(chatgroups)
    .where(
      or(
        and(
          eq(chatgroups.visibility, "team"),
          sql`exists (select 1 from ${teamMembers} tm where tm.team_id = ${chatgroups.teamId} and tm.user_id = ${userId})`,
        ),
        sql`exists (select 1 from ${chatgroupMembers} cm where cm.chatgroup_id = ${chatgroups.id} and cm.user_id = ${userId})`,
      ),
    );
  return rows.map((row) => row.id);
}

export type InvocableRobot = { robotId: string; handle: string; name: string };

/**
 * Robots with one of `handles` that may be invoked in the chatgroup: not revoked, and
 * scoped to the whole tenant, to the chatgroup's team, or to the chatgroup itself.
 */
export async function findInvocableRobots(
  tx: DbOrTx,
  chatgroup: { chatgroupId: string; teamId: string },
  handles: string[],
): Promise<InvocableRobot[]> {
  if (handles.length === 0) return [];
  return tx
    .select({ robotId: robots.id, handle: robots.handle, name: robots.name })
    .from(robots)
    .where(
      and(
        inArray(robots.handle, handles),
        isNull(robots.revokedAt),
        sql`exists (select 1 from ${robotScopes} s where s.robot_id = ${robots.id} and (
          s.scope_type = 'tenant'
          or (s.scope_type = 'team' and s.scope_id = ${chatgroup.teamId})
          or (s.scope_type = 'chatgroup' and s.scope_id = ${chatgroup.chatgroupId})))`,
      ),
    );
}

/** Whether a robot may be invoked in a chatgroup (the dispatch side of the same rule). */
export async function isRobotInvocable(
  tx: DbOrTx,
  robotId: string,
  chatgroup: { chatgroupId: string; teamId: string },
): Promise<boolean> {
  const [row] = await tx
    .select({ handle: robots.handle })
    .from(robots)
    .where(and(eq(robots.id, robotId), isNull(robots.revokedAt)));
  if (!row) return false;
  const found = await findInvocableRobots(tx, chatgroup, [row.handle]);
  return found.length > 0;
}

/** Members of the tenant with one of `handles` (users carry a global handle). */
export async function findUsersByHandle(
  tx: DbOrTx,
  handles: string[],
): Promise<{ userId: string; handle: string }[]> {
  if (handles.length === 0) return [];
  return tx
    .select({ userId: users.id, handle: users.handle })
    .from(users)
    .innerJoin(memberships, eq(memberships.userId, users.id))
    .where(inArray(users.handle, handles));
}

export type LiveTaskLease = {
  taskId: string;
  robotId: string;
  handle: string;
  epoch: number;
  chatgroupId: string | null;
  teamId: string | null;
};

/**
 * The lease a task token stands for, if it is still live by the database clock: the
 * task is running, the token hash matches the current lease and it has not expired.
 */
export async function findLiveTaskLease(
  tx: DbOrTx,
  taskId: string,
  tokenHash: string,
): Promise<LiveTaskLease | null> {
  const [row] = await tx
    .select({
      taskId: tasks.id,
      robotId: tasks.robotId,
      handle: robots.handle,
      epoch: tasks.leaseEpoch,
      chatgroupId: tasks.chatgroupId,
      teamId: chatgroups.teamId,
    })
    .from(tasks)
    .innerJoin(robots, and(eq(robots.id, tasks.robotId), isNull(robots.revokedAt)))
    .leftJoin(chatgroups, eq(chatgroups.id, tasks.chatgroupId))
    .where(
      and(
        eq(tasks.id, taskId),
        eq(tasks.status, "running"),
        eq(tasks.taskTokenHash, tokenHash),
        sql`${tasks.leaseExpiresAt} > now()`,
      ),
    );
  return row ?? null;
}
