import type {
  AcceptInviteSignupBody,
  CreateInviteBody,
  CreateInviteResponse,
  Invite,
  TenantRole,
} from "@perseus/contracts";
import { isUniqueViolation, schema, type Tx, withTenant } from "@perseus/db";
import { ConflictError, NotFoundError } from "@perseus/kit";
import { asc, desc, eq, isNull } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import type { Services } from "../../deps.js";
import { writeAudit } from "../../lib/audit.js";
import type { Ctx, Origin } from "../../lib/context.js";
import { digestsEqual, formatCredential, newSecret, parseCredential, sha256 } from "../../lib/secrets.js";
import { findUserByEmail } from "../sessions/sessions.repo.js";
import { membershipChanged } from "./members.service.js";

const { invites, memberships, users, teams, teamMembers } = schema;
type InviteRow = typeof invites.$inferSelect;

/** One answer for every unusable invite: unknown, foreign, wrong secret, expired, used, revoked. */
const invalidInvite = () => new NotFoundError("invite (or it is no longer valid)");

function statusOf(row: InviteRow): Invite["status"] {
  if (row.acceptedAt) return "accepted";
  if (row.revokedAt) return "revoked";
  return row.expiresAt.getTime() <= Date.now() ? "expired" : "pending";
}

const toInvite = (row: InviteRow): Invite => ({
  id: row.id,
  role: row.role as TenantRole,
  email: row.email,
  status: statusOf(row),
  expiresAt: row.expiresAt.toISOString(),
  createdAt: row.createdAt.toISOString(),
});

export function createInvitesService(deps: Pick<Services, "db" | "config" | "passwords">) {
  const { db } = deps;

  /** Locks a presented invite if it is usable by this email; otherwise the one invalid answer. */
  const claim = async (tx: Tx, invite: { id: string; secret: string }, email: string) => {
    const [row] = await tx.select().from(invites).where(eq(invites.id, invite.id)).for("update");
    if (!row || !digestsEqual(row.tokenHash, sha256(invite.secret)) || statusOf(row) !== "pending")
      throw invalidInvite();
    if (row.email && row.email.toLowerCase() !== email.toLowerCase()) throw invalidInvite();
    return row;
  };

  /** Membership from an invite, in the inviting tenant's transaction; joins the first team too. */
  const join = async (tx: Tx, ctx: Ctx, row: InviteRow, userId: string) => {
    const [existing] = await tx.select().from(memberships).where(eq(memberships.userId, userId));
    if (existing) throw new ConflictError("you are already a member of this tenant");
    await tx.insert(memberships).values({ tenantId: ctx.tenantId, userId, role: row.role });
    await membershipChanged(tx, ctx.tenantId, {
      userId,
      scope: "tenant",
      scopeId: ctx.tenantId,
      role: row.role,
    });
    const [firstTeam] = await tx
      .select({ id: teams.id })
      .from(teams)
      .where(isNull(teams.archivedAt))
      .orderBy(asc(teams.createdAt))
      .limit(1);
    if (firstTeam) {
      await tx.insert(teamMembers).values({ tenantId: ctx.tenantId, teamId: firstTeam.id, userId });
      await membershipChanged(tx, ctx.tenantId, {
        userId,
        scope: "team",
        scopeId: firstTeam.id,
        role: "member",
      });
    }
    await tx
      .update(invites)
      .set({ acceptedAt: new Date(), acceptedBy: userId })
      .where(eq(invites.id, row.id));
    await writeAudit(tx, ctx, {
      action: "invite.accepted",
      targetType: "invite",
      targetId: row.id,
      data: { userId },
    });
  };

  return {
    create: (ctx: Ctx, createdBy: string, body: CreateInviteBody): Promise<CreateInviteResponse> =>
      withTenant(db, ctx, async (tx) => {
        const id = uuidv7();
        const secret = newSecret();
        const [row] = await tx
          .insert(invites)
          .values({
            tenantId: ctx.tenantId,
            id,
            tokenHash: sha256(secret),
            role: body.role,
            email: body.email ?? null,
            createdBy,
            expiresAt: new Date(Date.now() + body.ttlHours * 3_600_000),
          })
          .returning();
        await writeAudit(tx, ctx, {
          action: "invite.created",
          targetType: "invite",
          targetId: id,
          data: { role: body.role, email: body.email ?? null },
        });
        const token = formatCredential("pin", ctx.tenantId, id, secret);
        // The token rides in the fragment: browsers never send it to a server or a log.
        const link = `${deps.config.PUBLIC_ORIGIN}/invite#${token}`;
        return { invite: toInvite(row as InviteRow), token, link };
      }),

    list: (ctx: Ctx) =>
      withTenant(db, ctx, async (tx) => ({
        items: (await tx.select().from(invites).orderBy(desc(invites.createdAt))).map(toInvite),
      })),

    revoke: (ctx: Ctx, id: string): Promise<void> =>
      withTenant(db, ctx, async (tx) => {
        const [row] = await tx.select().from(invites).where(eq(invites.id, id)).for("update");
        if (!row) throw new NotFoundError("invite");
        if (statusOf(row) !== "pending") return;
        await tx.update(invites).set({ revokedAt: new Date() }).where(eq(invites.id, id));
        await writeAudit(tx, ctx, { action: "invite.revoked", targetType: "invite", targetId: id });
      }),

    /** A signed-in person accepts; answers the tenant joined. */
    async accept(ctx: Ctx & { actor: { type: "user"; userId: string } }, token: string): Promise<string> {
      const parsed = parseCredential("pin", token);
      if (!parsed) throw invalidInvite();
      const user = await db.select().from(users).where(eq(users.id, ctx.actor.userId));
      const email = user[0]?.email ?? "";
      await withTenant(db, { tenantId: parsed.tenantId }, async (tx) => {
        const row = await claim(tx, parsed, email);
        await join(tx, { ...ctx, tenantId: parsed.tenantId }, row, ctx.actor.userId);
      });
      return parsed.tenantId;
    },

    /** Sign-up through an invite: the account and the membership are created together. */
    async acceptWithSignup(
      origin: Origin,
      body: AcceptInviteSignupBody,
    ): Promise<{ userId: string; tenantId: string }> {
      const parsed = parseCredential("pin", body.token);
      if (!parsed) throw invalidInvite();
      const userId = uuidv7();
      const ctx: Ctx = {
        tenantId: parsed.tenantId,
        actor: { type: "user", userId, tenantId: parsed.tenantId, role: "user" },
        ...origin,
      };
      // Check the invite before spending an argon2 hash on it.
      await withTenant(db, ctx, (tx) => claim(tx, parsed, body.email));
      if (await findUserByEmail(db, body.email))
        throw new ConflictError("an account with this email already exists; sign in and accept");
      const passwordHash = await deps.passwords.hash(body.password);
      try {
        await withTenant(db, ctx, async (tx) => {
          const row = await claim(tx, parsed, body.email);
          await tx
            .insert(users)
            .values({ id: userId, email: body.email, name: body.name, handle: body.handle, passwordHash });
          await writeAudit(tx, ctx, {
            action: "user.signed_up",
            targetType: "user",
            targetId: userId,
          });
          await join(tx, ctx, row, userId);
        });
      } catch (error) {
        if (isUniqueViolation(error))
          throw new ConflictError("an account with this email already exists; sign in and accept");
        throw error;
      }
      return { userId, tenantId: parsed.tenantId };
    },
  };
}
export type InvitesService = ReturnType<typeof createInvitesService>;
