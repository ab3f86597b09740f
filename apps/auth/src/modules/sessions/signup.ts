import { createEvent, enqueueEvents } from "@perseus/bus";
import type { SessionResponse, SignupBody, TenantRole } from "@perseus/contracts";
import { isUniqueViolation, schema, withTenant } from "@perseus/db";
import { ConflictError } from "@perseus/kit";
import { v7 as uuidv7 } from "uuid";
import type { Services } from "../../deps.js";
import { writeAudit } from "../../lib/audit.js";
import type { Ctx, Origin } from "../../lib/context.js";
import * as repo from "./sessions.repo.js";

const { users, tenants, memberships, teams, teamMembers, chatgroups } = schema;

type SessionFor = (
  user: { id: string; email: string; name: string; handle: string },
  tenant: { id: string; name: string; role: TenantRole },
  sessionId: string,
) => Promise<SessionResponse>;

/**
 * Sign-up: the tenant, its owner, a "General" team and a team-wide "general" chatgroup,
 * their audit rows, membership events and the first refresh credential, in one transaction.
 */
export async function signupTenant(
  deps: Pick<Services, "config" | "db" | "passwords">,
  sessionFor: SessionFor,
  origin: Origin,
  body: SignupBody,
) {
  const { db, config } = deps;
  if (await repo.findUserByEmail(db, body.email)) {
    throw new ConflictError("an account with this email already exists; sign in instead");
  }
  const passwordHash = await deps.passwords.hash(body.password);
  const ids = { user: uuidv7(), tenant: uuidv7(), team: uuidv7(), chatgroup: uuidv7(), family: uuidv7() };
  const user = { id: ids.user, email: body.email, name: body.name, handle: body.handle };
  const ctx: Ctx = {
    tenantId: ids.tenant,
    actor: { type: "user", userId: ids.user, tenantId: ids.tenant, role: "owner" },
    ...origin,
  };
  let refresh: { secret: string };
  try {
    refresh = await withTenant(db, { tenantId: ids.tenant }, async (tx) => {
      await tx.insert(users).values({ ...user, passwordHash });
      await tx.insert(tenants).values({ tenantId: ids.tenant, name: body.tenantName });
      await tx.insert(memberships).values({ tenantId: ids.tenant, userId: ids.user, role: "owner" });
      await tx.insert(teams).values({ tenantId: ids.tenant, id: ids.team, name: "General" });
      await tx.insert(teamMembers).values({ tenantId: ids.tenant, teamId: ids.team, userId: ids.user });
      await tx.insert(chatgroups).values({
        tenantId: ids.tenant,
        id: ids.chatgroup,
        teamId: ids.team,
        name: "general",
        visibility: "team",
      });
      await writeAudit(tx, ctx, { action: "tenant.created", targetType: "tenant", targetId: ids.tenant });
      await writeAudit(tx, ctx, { action: "user.signed_up", targetType: "user", targetId: ids.user });
      await writeAudit(tx, ctx, { action: "team.created", targetType: "team", targetId: ids.team });
      await writeAudit(tx, ctx, {
        action: "chatgroup.created",
        targetType: "chatgroup",
        targetId: ids.chatgroup,
      });
      await writeAudit(tx, ctx, {
        action: "session.started",
        targetType: "session",
        targetId: ids.family,
      });
      await enqueueEvents(tx, [
        createEvent("membership.changed", ids.tenant, {
          userId: ids.user,
          scope: "tenant",
          scopeId: ids.tenant,
          role: "owner",
        }),
        createEvent("membership.changed", ids.tenant, {
          userId: ids.user,
          scope: "team",
          scopeId: ids.team,
          role: "member",
        }),
      ]);
      return repo.insertRefreshToken(tx, {
        familyId: ids.family,
        userId: ids.user,
        tenantId: ids.tenant,
        ttlDays: config.AUTH_REFRESH_TTL_DAYS,
      });
    });
  } catch (error) {
    // A concurrent sign-up with the same email won the race.
    if (isUniqueViolation(error))
      throw new ConflictError("an account with this email already exists; sign in instead");
    throw error;
  }
  const tenant = { id: ids.tenant, name: body.tenantName, role: "owner" as const };
  return {
    session: await sessionFor(user, tenant, ids.family),
    refreshSecret: refresh.secret,
    teamId: ids.team,
    chatgroupId: ids.chatgroup,
  };
}
