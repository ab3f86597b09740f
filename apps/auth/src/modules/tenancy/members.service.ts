import { createEvent, enqueueEvents } from "@perseus/bus";
import {
  decodeCursor,
  encodeCursor,
  type Member,
  type Page,
  type Tenant,
  type TenantRole,
} from "@perseus/contracts";
import { type Tx, withTenant } from "@perseus/db";
import { ConflictError, ForbiddenError, NotFoundError } from "@perseus/kit";
import { z } from "zod";
import type { Services } from "../../deps.js";
import { writeAudit } from "../../lib/audit.js";
import { actingUserId, type Ctx } from "../../lib/context.js";
import { revokeUserRefreshTokens } from "../sessions/sessions.repo.js";
import * as repo from "./members.repo.js";

const MemberCursor = z.object({ joinedAt: z.string(), userId: z.uuid() });
const LAST_OWNER = "the tenant's last owner cannot leave, be removed, disabled or demoted";

/** Membership events: the outbox row that tells other services, in the caller's transaction. */
export async function membershipChanged(
  tx: Tx,
  tenantId: string,
  change: { userId: string; scope: "tenant" | "team" | "chatgroup"; scopeId: string; role: string | null },
) {
  await enqueueEvents(tx, [createEvent("membership.changed", tenantId, change)]);
}

export function createMembersService(deps: Pick<Services, "db" | "revoke">) {
  const { db } = deps;

  /** Role rules beyond RBAC: admins never touch owners nor hand out ownership. */
  const checkAuthority = (ctx: Ctx, target: { role: string }, newRole?: TenantRole) => {
    const role = ctx.actor.type === "user" ? ctx.actor.role : "user";
    if (role === "owner") return;
    if (target.role === "owner" || newRole === "owner")
      throw new ForbiddenError("only an owner may change an owner");
  };

  /** Ends the user's sessions in this tenant; their access tokens die by the revocation after commit. */
  const cutAccess = (tx: Tx, ctx: Ctx, userId: string) => revokeUserRefreshTokens(tx, userId, ctx.tenantId);

  const notFound = () => new NotFoundError("member");

  return {
    async getTenant(ctx: Ctx): Promise<Tenant> {
      const row = await withTenant(db, ctx, (tx) => repo.getTenant(tx));
      if (!row) throw new NotFoundError("tenant");
      return { id: row.tenantId, name: row.name, createdAt: row.createdAt.toISOString() };
    },

    async renameTenant(ctx: Ctx, name: string): Promise<Tenant> {
      const row = await withTenant(db, ctx, async (tx) => {
        const renamed = await repo.renameTenant(tx, name);
        await writeAudit(tx, ctx, {
          action: "tenant.renamed",
          targetType: "tenant",
          targetId: ctx.tenantId,
          data: { name },
        });
        return renamed;
      });
      if (!row) throw new NotFoundError("tenant");
      return { id: row.tenantId, name: row.name, createdAt: row.createdAt.toISOString() };
    },

    async list(ctx: Ctx, query: { cursor?: string | undefined; limit: number }): Promise<Page<Member>> {
      const after = query.cursor ? decodeCursor(query.cursor, MemberCursor) : null;
      if (query.cursor && !after) return { items: [], nextCursor: null };
      const rows = await withTenant(db, ctx, (tx) => repo.listMembers(tx, after, query.limit + 1));
      const items = rows.slice(0, query.limit).map(repo.toMember);
      const last = items.at(-1);
      return {
        items,
        nextCursor:
          rows.length > query.limit && last
            ? encodeCursor({ joinedAt: last.joinedAt, userId: last.userId })
            : null,
      };
    },

    async get(ctx: Ctx, userId: string): Promise<Member> {
      const row = await withTenant(db, ctx, (tx) => repo.findMember(tx, userId));
      if (!row) throw notFound();
      return repo.toMember(row);
    },

    async changeRole(ctx: Ctx, userId: string, role: TenantRole): Promise<Member> {
      const row = await withTenant(db, ctx, async (tx) => {
        const owners = await repo.lockOwners(tx);
        const target = await repo.findMember(tx, userId, { lock: true });
        if (!target) throw notFound();
        checkAuthority(ctx, target, role);
        if (target.role === role) return target;
        if (target.role === "owner" && owners.length <= 1 && owners.includes(userId))
          throw new ConflictError(LAST_OWNER);
        await repo.setRole(tx, userId, role);
        await writeAudit(tx, ctx, {
          action: "member.role_changed",
          targetType: "user",
          targetId: userId,
          data: { from: target.role, to: role },
        });
        await membershipChanged(tx, ctx.tenantId, { userId, scope: "tenant", scopeId: ctx.tenantId, role });
        return { ...target, role };
      });
      await deps.revoke("user", userId);
      return repo.toMember(row);
    },

    /** Removes a member (or the caller, leaving): memberships of teams and chatgroups go with it. */
    async remove(ctx: Ctx, userId: string, action = "member.removed"): Promise<void> {
      await withTenant(db, ctx, async (tx) => {
        const owners = await repo.lockOwners(tx);
        const target = await repo.findMember(tx, userId, { lock: true });
        if (!target) throw notFound();
        if (actingUserId(ctx.actor) !== userId) checkAuthority(ctx, target);
        if (owners.length <= 1 && owners.includes(userId)) throw new ConflictError(LAST_OWNER);
        const revokedKeys = await repo.revokeKeysCreatedBy(tx, userId);
        await repo.deleteMembership(tx, userId);
        await cutAccess(tx, ctx, userId);
        await writeAudit(tx, ctx, { action, targetType: "user", targetId: userId, data: { revokedKeys } });
        await membershipChanged(tx, ctx.tenantId, {
          userId,
          scope: "tenant",
          scopeId: ctx.tenantId,
          role: null,
        });
      });
      await deps.revoke("user", userId);
    },

    async setDisabled(ctx: Ctx, userId: string, disabled: boolean): Promise<Member> {
      if (disabled && actingUserId(ctx.actor) === userId)
        throw new ConflictError("you cannot disable yourself");
      const row = await withTenant(db, ctx, async (tx) => {
        const owners = await repo.lockOwners(tx);
        const target = await repo.findMember(tx, userId, { lock: true });
        if (!target) throw notFound();
        checkAuthority(ctx, target);
        if (disabled === (target.disabledAt !== null)) return target;
        if (disabled && owners.length <= 1 && owners.includes(userId)) throw new ConflictError(LAST_OWNER);
        await repo.setDisabled(tx, userId, disabled);
        if (disabled) await cutAccess(tx, ctx, userId);
        await writeAudit(tx, ctx, {
          action: disabled ? "member.disabled" : "member.enabled",
          targetType: "user",
          targetId: userId,
        });
        await membershipChanged(tx, ctx.tenantId, {
          userId,
          scope: "tenant",
          scopeId: ctx.tenantId,
          role: disabled ? null : target.role,
        });
        return { ...target, disabledAt: disabled ? new Date() : null };
      });
      if (disabled) await deps.revoke("user", userId);
      return repo.toMember(row);
    },

    /** The target becomes an owner and the caller an admin, atomically. */
    async transferOwnership(ctx: Ctx, userId: string): Promise<void> {
      const callerId = actingUserId(ctx.actor);
      if (!callerId) throw new ForbiddenError("only a signed-in owner may transfer ownership");
      if (callerId === userId) throw new ConflictError("you already own this tenant");
      await withTenant(db, ctx, async (tx) => {
        await repo.lockOwners(tx);
        const target = await repo.findMember(tx, userId, { lock: true });
        if (!target || target.disabledAt) throw notFound();
        await repo.setRole(tx, userId, "owner");
        await repo.setRole(tx, callerId, "admin");
        await writeAudit(tx, ctx, {
          action: "tenant.ownership_transferred",
          targetType: "user",
          targetId: userId,
        });
        await membershipChanged(tx, ctx.tenantId, {
          userId,
          scope: "tenant",
          scopeId: ctx.tenantId,
          role: "owner",
        });
        await membershipChanged(tx, ctx.tenantId, {
          userId: callerId,
          scope: "tenant",
          scopeId: ctx.tenantId,
          role: "admin",
        });
      });
      await deps.revoke("user", userId);
      await deps.revoke("user", callerId);
    },
  };
}
export type MembersService = ReturnType<typeof createMembersService>;
