import type { Chatgroup, CreateChatgroupBody, ScopedMember, Team } from "@perseus/contracts";
import { schema, type Tx, withTenant } from "@perseus/db";
import { ConflictError, NotFoundError } from "@perseus/kit";
import { and, eq } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import type { Services } from "../../deps.js";
import { writeAudit } from "../../lib/audit.js";
import { actingUserId, type Ctx } from "../../lib/context.js";
import * as repo from "./groups.repo.js";
import { membershipChanged } from "./members.service.js";

const { teams, teamMembers, chatgroups, chatgroupMembers } = schema;

/** Who is looking: owners and admins manage every team and chatgroup; others see their own. */
function viewerOf(ctx: Ctx) {
  const userId = actingUserId(ctx.actor) ?? "00000000-0000-0000-0000-000000000000";
  const isManager = ctx.actor.type === "user" && (ctx.actor.role === "owner" || ctx.actor.role === "admin");
  return { userId, isManager };
}

export function createGroupsService(deps: Pick<Services, "db">) {
  const { db } = deps;

  const visibleTeam = async (tx: Tx, ctx: Ctx, id: string, options: { lock?: boolean } = {}) => {
    const viewer = viewerOf(ctx);
    const team = await repo.findTeam(tx, id, options);
    if (!team || (!viewer.isManager && !(await repo.isTeamMember(tx, id, viewer.userId))))
      throw new NotFoundError("team");
    return team;
  };
  const visibleChatgroup = async (tx: Tx, ctx: Ctx, id: string) => {
    const row = await repo.findVisibleChatgroup(tx, id, viewerOf(ctx));
    if (!row) throw new NotFoundError("chatgroup");
    return row;
  };
  const requireTenantMember = async (tx: Tx, userId: string) => {
    if (!(await repo.isTenantMember(tx, userId))) throw new NotFoundError("member");
  };

  return {
    listTeams: (ctx: Ctx, includeArchived: boolean): Promise<{ items: Team[] }> =>
      withTenant(db, ctx, async (tx) => {
        const viewer = viewerOf(ctx);
        const rows = await repo.listTeams(tx, {
          includeArchived,
          ...(viewer.isManager ? {} : { memberId: viewer.userId }),
        });
        return { items: rows.map(repo.toTeam) };
      }),

    getTeam: (ctx: Ctx, id: string): Promise<Team> =>
      withTenant(db, ctx, async (tx) => repo.toTeam(await visibleTeam(tx, ctx, id))),

    createTeam: (ctx: Ctx, name: string): Promise<Team> =>
      withTenant(db, ctx, async (tx) => {
        const id = uuidv7();
        const [row] = await tx.insert(teams).values({ tenantId: ctx.tenantId, id, name }).returning();
        const creator = actingUserId(ctx.actor);
        if (creator && (await repo.isTenantMember(tx, creator))) {
          await tx.insert(teamMembers).values({ tenantId: ctx.tenantId, teamId: id, userId: creator });
          await membershipChanged(tx, ctx.tenantId, {
            userId: creator,
            scope: "team",
            scopeId: id,
            role: "member",
          });
        }
        await writeAudit(tx, ctx, {
          action: "team.created",
          targetType: "team",
          targetId: id,
          data: { name },
        });
        return repo.toTeam(row as typeof teams.$inferSelect);
      }),

    updateTeam: (ctx: Ctx, id: string, change: { name?: string; archive?: boolean }): Promise<Team> =>
      withTenant(db, ctx, async (tx) => {
        const team = await visibleTeam(tx, ctx, id, { lock: true });
        const set = change.archive
          ? { archivedAt: team.archivedAt ?? new Date() }
          : { name: change.name ?? team.name };
        const [row] = await tx.update(teams).set(set).where(eq(teams.id, id)).returning();
        await writeAudit(tx, ctx, {
          action: change.archive ? "team.archived" : "team.renamed",
          targetType: "team",
          targetId: id,
          data: change.archive ? {} : { name: change.name },
        });
        return repo.toTeam(row as typeof teams.$inferSelect);
      }),

    listTeamMembers: (ctx: Ctx, id: string): Promise<{ items: ScopedMember[] }> =>
      withTenant(db, ctx, async (tx) => {
        await visibleTeam(tx, ctx, id);
        return { items: await repo.listTeamMembers(tx, id) };
      }),

    setTeamMember: (ctx: Ctx, teamId: string, userId: string, isMember: boolean): Promise<void> =>
      withTenant(db, ctx, async (tx) => {
        const team = await visibleTeam(tx, ctx, teamId, { lock: true });
        await requireTenantMember(tx, userId);
        if (isMember) {
          if (team.archivedAt) throw new ConflictError("the team is archived");
          const added = await tx
            .insert(teamMembers)
            .values({ tenantId: ctx.tenantId, teamId, userId })
            .onConflictDoNothing()
            .returning({ userId: teamMembers.userId });
          if (added.length === 0) return;
        } else {
          const removed = await tx
            .delete(teamMembers)
            .where(and(eq(teamMembers.teamId, teamId), eq(teamMembers.userId, userId)))
            .returning({ userId: teamMembers.userId });
          if (removed.length === 0) return;
        }
        await writeAudit(tx, ctx, {
          action: isMember ? "team.member_added" : "team.member_removed",
          targetType: "team",
          targetId: teamId,
          data: { userId },
        });
        await membershipChanged(tx, ctx.tenantId, {
          userId,
          scope: "team",
          scopeId: teamId,
          role: isMember ? "member" : null,
        });
      }),

    listChatgroups: (ctx: Ctx, query: { teamId?: string | undefined; includeArchived: boolean }) =>
      withTenant(db, ctx, async (tx) => ({
        items: (await repo.listChatgroups(tx, viewerOf(ctx), query)).map(repo.toChatgroup),
      })),

    getChatgroup: (ctx: Ctx, id: string): Promise<Chatgroup> =>
      withTenant(db, ctx, async (tx) => repo.toChatgroup(await visibleChatgroup(tx, ctx, id))),

    createChatgroup: (ctx: Ctx, body: CreateChatgroupBody): Promise<Chatgroup> =>
      withTenant(db, ctx, async (tx) => {
        const team = await visibleTeam(tx, ctx, body.teamId);
        if (team.archivedAt) throw new ConflictError("the team is archived");
        const creator = actingUserId(ctx.actor);
        const members = new Set(body.visibility === "private" ? body.memberIds : []);
        if (body.visibility === "private" && creator && (await repo.isTenantMember(tx, creator)))
          members.add(creator);
        if ((await repo.countTenantMembers(tx, [...members])) !== members.size)
          throw new NotFoundError("member");
        const id = uuidv7();
        const [row] = await tx
          .insert(chatgroups)
          .values({
            tenantId: ctx.tenantId,
            id,
            teamId: body.teamId,
            name: body.name,
            visibility: body.visibility,
          })
          .returning();
        for (const userId of members) {
          await tx.insert(chatgroupMembers).values({ tenantId: ctx.tenantId, chatgroupId: id, userId });
          await membershipChanged(tx, ctx.tenantId, {
            userId,
            scope: "chatgroup",
            scopeId: id,
            role: "member",
          });
        }
        await writeAudit(tx, ctx, {
          action: "chatgroup.created",
          targetType: "chatgroup",
          targetId: id,
          data: { name: body.name, visibility: body.visibility, teamId: body.teamId },
        });
        return repo.toChatgroup(row as typeof chatgroups.$inferSelect);
      }),

    updateChatgroup: (
      ctx: Ctx,
      id: string,
      change: { name?: string; archive?: boolean },
    ): Promise<Chatgroup> =>
      withTenant(db, ctx, async (tx) => {
        await visibleChatgroup(tx, ctx, id);
        const current = await repo.findChatgroup(tx, id, { lock: true });
        if (!current) throw new NotFoundError("chatgroup");
        const set = change.archive
          ? { archivedAt: current.archivedAt ?? new Date() }
          : { name: change.name ?? current.name };
        const [row] = await tx.update(chatgroups).set(set).where(eq(chatgroups.id, id)).returning();
        await writeAudit(tx, ctx, {
          action: change.archive ? "chatgroup.archived" : "chatgroup.renamed",
          targetType: "chatgroup",
          targetId: id,
          data: change.archive ? {} : { name: change.name },
        });
        return repo.toChatgroup(row as typeof chatgroups.$inferSelect);
      }),

    listChatgroupMembers: (ctx: Ctx, id: string) =>
      withTenant(db, ctx, async (tx) => {
        await visibleChatgroup(tx, ctx, id);
        return { items: await repo.listChatgroupMembers(tx, id) };
      }),

    setChatgroupMember: (ctx: Ctx, chatgroupId: string, userId: string, isMember: boolean): Promise<void> =>
      withTenant(db, ctx, async (tx) => {
        const chatgroup = await visibleChatgroup(tx, ctx, chatgroupId);
        await requireTenantMember(tx, userId);
        if (isMember) {
          if (chatgroup.archivedAt) throw new ConflictError("the chatgroup is archived");
          const added = await tx
            .insert(chatgroupMembers)
            .values({ tenantId: ctx.tenantId, chatgroupId, userId })
            .onConflictDoNothing()
            .returning({ userId: chatgroupMembers.userId });
          if (added.length === 0) return;
        } else {
          const removed = await tx
            .delete(chatgroupMembers)
            .where(and(eq(chatgroupMembers.chatgroupId, chatgroupId), eq(chatgroupMembers.userId, userId)))
            .returning({ userId: chatgroupMembers.userId });
          if (removed.length === 0) return;
        }
        await writeAudit(tx, ctx, {
          action: isMember ? "chatgroup.member_added" : "chatgroup.member_removed",
          targetType: "chatgroup",
          targetId: chatgroupId,
          data: { userId },
        });
        await membershipChanged(tx, ctx.tenantId, {
          userId,
          scope: "chatgroup",
          scopeId: chatgroupId,
          role: isMember ? "member" : null,
        });
      }),
  };
}
export type GroupsService = ReturnType<typeof createGroupsService>;
