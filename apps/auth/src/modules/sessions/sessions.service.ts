import { createEvent, enqueueEvents } from "@perseus/bus";
import type { LoginBody, MeResponse, SessionResponse, SignupBody, TenantRole } from "@perseus/contracts";
import { schema, withTenant } from "@perseus/db";
import { ForbiddenError, NotFoundError, UnauthenticatedError } from "@perseus/kit";
import { eq, sql } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import type { Services } from "../../deps.js";
import { writeAudit, writeOriginAudit } from "../../lib/audit.js";
import type { Ctx, Origin } from "../../lib/context.js";
import * as repo from "./sessions.repo.js";
import { signupTenant } from "./signup.js";

const { users, refreshTokens } = schema;

export type IssuedSession = { session: SessionResponse; refreshSecret: string };
const INVALID_LOGIN = "invalid email or password";
const MAX_LOCK_MS = 15 * 60_000;

export function createSessionsService(
  deps: Pick<Services, "config" | "db" | "tokens" | "passwords" | "revoke">,
) {
  const { config, db } = deps;

  const sessionFor = async (
    user: { id: string; email: string; name: string; handle: string },
    tenant: { id: string; name: string; role: TenantRole },
    sessionId: string,
  ): Promise<SessionResponse> => {
    const access = await deps.tokens.user({
      userId: user.id,
      tenantId: tenant.id,
      role: tenant.role,
      sessionId,
    });
    return {
      accessToken: access.token,
      tokenType: "Bearer",
      expiresAt: access.expiresAt.toISOString(),
      sessionId,
      user: { id: user.id, email: user.email, name: user.name, handle: user.handle },
      tenant,
    };
  };

  /** Starts a session family in a tenant: refresh row and audit row in one tenant transaction. */
  const startSession = async (
    origin: Origin,
    user: repo.UserRow,
    tenant: { id: string; name: string; role: TenantRole },
    action: string,
  ): Promise<IssuedSession> => {
    const familyId = uuidv7();
    const refresh = await withTenant(db, { tenantId: tenant.id }, async (tx) => {
      const created = await repo.insertRefreshToken(tx, {
        familyId,
        userId: user.id,
        tenantId: tenant.id,
        ttlDays: config.AUTH_REFRESH_TTL_DAYS,
      });
      await writeOriginAudit(tx, origin, {
        tenantId: tenant.id,
        actorType: "user",
        actorId: user.id,
        action,
        targetType: "session",
        targetId: familyId,
      });
      return created;
    });
    return { session: await sessionFor(user, tenant, familyId), refreshSecret: refresh.secret };
  };

  /** The tenant to sign in to: the requested one, else the last used, else the first joined. */
  const pickTenant = async (userId: string, requested?: string) => {
    const active = (await repo.listUserTenants(db, userId)).filter((t) => !t.disabled);
    if (requested) return active.find((t) => t.tenantId === requested) ?? null;
    const last = await repo.lastUsedTenant(db, userId);
    return active.find((t) => t.tenantId === last) ?? active[0] ?? null;
  };

  return {
    signup: (origin: Origin, body: SignupBody) => signupTenant(deps, sessionFor, origin, body),

    /**
     * Password sign-in. Unknown email, wrong password, locked or disabled account all get
     * the same answer after one argon2 verification, so neither body nor timing tells them apart.
     */
    async login(origin: Origin, body: LoginBody): Promise<IssuedSession> {
      const user = await repo.findUserByEmail(db, body.email);
      const now = Date.now();
      if (!user?.passwordHash || user.status !== "active" || (user.lockedUntil?.getTime() ?? 0) > now) {
        await deps.passwords.verifyDummy(body.password);
        throw new UnauthenticatedError(INVALID_LOGIN);
      }
      if (!(await deps.passwords.verify(user.passwordHash, body.password))) {
        const failures = user.failedLogins + 1;
        const over = failures - config.AUTH_LOCKOUT_THRESHOLD;
        const lockMs = over >= 0 ? Math.min(config.AUTH_LOCKOUT_SECONDS * 1000 * 2 ** over, MAX_LOCK_MS) : 0;
        await db
          .update(users)
          .set({
            failedLogins: sql`${users.failedLogins} + 1`,
            lockedUntil: lockMs ? new Date(now + lockMs) : null,
          })
          .where(eq(users.id, user.id));
        throw new UnauthenticatedError(INVALID_LOGIN);
      }
      if (user.failedLogins > 0 || user.lockedUntil) {
        await db.update(users).set({ failedLogins: 0, lockedUntil: null }).where(eq(users.id, user.id));
      }
      const tenant = await pickTenant(user.id, body.tenantId);
      if (!tenant) throw new ForbiddenError("you are not an active member of that tenant (or of any)");
      return startSession(
        origin,
        user,
        { id: tenant.tenantId, name: tenant.name, role: tenant.role },
        "session.started",
      );
    },

    /**
     * Rotates a refresh credential. A rotated one presented again revokes its whole family,
     * except once within the grace window while its successor is still unused (a retry
     * after a lost response): then the successor is replaced and the retry succeeds.
     */
    async refresh(origin: Origin, secret: string | undefined): Promise<IssuedSession> {
      if (!secret || secret.length > 200) throw new UnauthenticatedError("no valid refresh credential");
      const outcome = await db.transaction(async (tx) => {
        const row = await repo.lockRefreshToken(tx, secret);
        if (!row || row.expiresAt.getTime() <= Date.now() || !row.tenantId)
          return { kind: "refused" as const };
        // A revoked credential of a live family (e.g. the one a grace retry replaced) is theft too.
        if (row.revokedAt)
          return (await repo.revokeFamily(tx, row.familyId)) > 0
            ? { kind: "reused" as const, row }
            : { kind: "refused" as const };
        if (row.usedAt) {
          const successor = row.replacedBy ? await repo.lockRefreshTokenById(tx, row.replacedBy) : undefined;
          const inGrace =
            Date.now() - row.usedAt.getTime() <= config.AUTH_REFRESH_GRACE_SECONDS * 1000 &&
            !row.graceUsedAt &&
            successor &&
            !successor.usedAt &&
            !successor.revokedAt;
          if (!inGrace) {
            await repo.revokeFamily(tx, row.familyId);
            return { kind: "reused" as const, row };
          }
          await tx
            .update(refreshTokens)
            .set({ revokedAt: new Date() })
            .where(eq(refreshTokens.id, successor.id));
        }
        const next = await repo.insertRefreshToken(tx, {
          familyId: row.familyId,
          userId: row.userId,
          tenantId: row.tenantId,
          ttlDays: config.AUTH_REFRESH_TTL_DAYS,
        });
        await tx
          .update(refreshTokens)
          .set(
            row.usedAt
              ? { graceUsedAt: new Date(), replacedBy: next.id }
              : { usedAt: new Date(), replacedBy: next.id },
          )
          .where(eq(refreshTokens.id, row.id));
        return { kind: "rotated" as const, row, secret: next.secret };
      });
      if (outcome.kind === "refused") throw new UnauthenticatedError("no valid refresh credential");
      const { row } = outcome;
      const tenantId = row.tenantId as string;
      if (outcome.kind === "reused") {
        await this.announceFamilyRevoked(
          origin,
          row.userId,
          tenantId,
          row.familyId,
          "session.reuse_detected",
        );
        throw new UnauthenticatedError("no valid refresh credential");
      }
      const user = await repo.findUserById(db, row.userId);
      const isUserValid =
        user?.status === "active" && (user.tokensNotBefore?.getTime() ?? 0) <= row.createdAt.getTime();
      // The membership check and the audit row of the rotation share one tenant transaction.
      const membership = await withTenant(db, { tenantId }, async (tx) => {
        const found = isUserValid ? await repo.findActiveMembership(tx, row.userId) : null;
        if (found)
          await writeOriginAudit(tx, origin, {
            tenantId,
            actorType: "user",
            actorId: row.userId,
            action: "session.refreshed",
            targetType: "session",
            targetId: row.familyId,
          });
        return found;
      });
      if (!user || !membership) {
        await db.transaction((tx) => repo.revokeFamily(tx, row.familyId));
        throw new UnauthenticatedError("no valid refresh credential");
      }
      const tenant = { id: tenantId, name: membership.tenantName, role: membership.role };
      return { session: await sessionFor(user, tenant, row.familyId), refreshSecret: outcome.secret };
    },

    /** Signs in a user proven by other means (OIDC): same tenant choice as a password sign-in. */
    async signInVerified(
      origin: Origin,
      user: repo.UserRow,
      requestedTenant?: string,
    ): Promise<IssuedSession> {
      if (user.status !== "active") throw new UnauthenticatedError("this account is disabled");
      const tenant = await pickTenant(user.id, requestedTenant);
      if (!tenant) throw new ForbiddenError("you are not an active member of that tenant (or of any)");
      const target = { id: tenant.tenantId, name: tenant.name, role: tenant.role };
      return startSession(origin, user, target, "session.started_oidc");
    },

    /** Starts a session for a user in a tenant they just joined (sign-up through an invite). */
    async startIn(origin: Origin, userId: string, tenantId: string): Promise<IssuedSession> {
      const user = await repo.findUserById(db, userId);
      const membership = await withTenant(db, { tenantId }, (tx) => repo.findActiveMembership(tx, userId));
      if (!user || !membership) throw new UnauthenticatedError();
      const tenant = { id: tenantId, name: membership.tenantName, role: membership.role };
      return startSession(origin, user, tenant, "session.started");
    },

    /** Ends one session family: its refresh credentials and access tokens. */
    async logout(origin: Origin, secret: string | undefined): Promise<void> {
      if (!secret || secret.length > 200) return;
      const row = await db.transaction(async (tx) => {
        const found = await repo.lockRefreshToken(tx, secret);
        if (found && !found.revokedAt) await repo.revokeFamily(tx, found.familyId);
        return found && !found.revokedAt ? found : undefined;
      });
      if (row?.tenantId)
        await this.announceFamilyRevoked(origin, row.userId, row.tenantId, row.familyId, "session.ended");
    },

    /** Audit row, outbox event and fast-path revocation of a session family. */
    async announceFamilyRevoked(
      origin: Origin,
      userId: string,
      tenantId: string,
      familyId: string,
      action: string,
    ) {
      const at = Date.now();
      await withTenant(db, { tenantId }, async (tx) => {
        await writeOriginAudit(tx, origin, {
          tenantId,
          actorType: "user",
          actorId: userId,
          action,
          targetType: "session",
          targetId: familyId,
        });
        await enqueueEvents(tx, [
          createEvent("principal.revoked", tenantId, {
            kind: "session",
            id: familyId,
            notBefore: new Date(at).toISOString(),
          }),
        ]);
      });
      await deps.revoke("session", familyId, at);
    },

    async logoutAll(ctx: Ctx & { actor: { type: "user"; userId: string } }): Promise<void> {
      const at = new Date();
      const userId = ctx.actor.userId;
      await withTenant(db, ctx, async (tx) => {
        await tx.update(users).set({ tokensNotBefore: at }).where(eq(users.id, userId));
        await repo.revokeUserRefreshTokens(tx, userId);
        await writeAudit(tx, ctx, {
          action: "session.ended_everywhere",
          targetType: "user",
          targetId: userId,
        });
        await enqueueEvents(tx, [
          createEvent("principal.revoked", ctx.tenantId, {
            kind: "user",
            id: userId,
            notBefore: at.toISOString(),
          }),
        ]);
      });
      await deps.revoke("user", userId, at.getTime());
    },

    async me(ctx: Ctx & { actor: { type: "user"; userId: string } }): Promise<MeResponse> {
      const user = await repo.findUserById(db, ctx.actor.userId);
      const all = await repo.listUserTenants(db, ctx.actor.userId);
      const current = all.find((t) => t.tenantId === ctx.tenantId && !t.disabled);
      if (!user || !current) throw new UnauthenticatedError("your membership of this tenant has ended");
      const summary = (t: repo.TenantMembership) => ({ id: t.tenantId, name: t.name, role: t.role });
      return {
        user: { id: user.id, email: user.email, name: user.name, handle: user.handle },
        tenant: summary(current),
        memberships: all.filter((t) => !t.disabled).map(summary),
      };
    },

    /** A token for another tenant of the same user, in the same session family. */
    async switchTenant(
      ctx: Ctx & { actor: { type: "user"; userId: string; sessionId?: string } },
      tenantId: string,
    ): Promise<SessionResponse> {
      const userId = ctx.actor.userId;
      const sessionId = ctx.actor.sessionId ?? uuidv7();
      const membership = await withTenant(db, { tenantId }, async (tx) => {
        const found = await repo.findActiveMembership(tx, userId);
        if (!found) return null;
        await tx
          .update(refreshTokens)
          .set({ tenantId })
          .where(sql`${refreshTokens.familyId} = ${sessionId} and ${refreshTokens.userId} = ${userId}`);
        await writeAudit(
          tx,
          { ...ctx, tenantId },
          { action: "session.switched_tenant", targetType: "tenant", targetId: tenantId },
        );
        return found;
      });
      // Same answer whether the tenant exists elsewhere or nowhere.
      if (!membership) throw new NotFoundError("tenant");
      const user = await repo.findUserById(db, userId);
      if (!user) throw new UnauthenticatedError();
      return sessionFor(
        user,
        { id: tenantId, name: membership.tenantName, role: membership.role },
        sessionId,
      );
    },
  };
}
export type SessionsService = ReturnType<typeof createSessionsService>;
