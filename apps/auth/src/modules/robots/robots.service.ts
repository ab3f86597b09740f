import { createEvent, enqueueEvents } from "@perseus/bus";
import type {
  CreateRobotBody,
  CreateRobotCredentialResponse,
  PutRobotConfigBody,
  Robot,
  RobotConfigResponse,
  RobotTokenResponse,
  UpdateRobotBody,
} from "@perseus/contracts";
import { isUniqueViolation, schema, type Tx, withTenant } from "@perseus/db";
import { ConflictError, NotFoundError, PreconditionFailedError, UnauthenticatedError } from "@perseus/kit";
import { and, eq, isNull } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import type { Services } from "../../deps.js";
import { writeAudit, writeOriginAudit } from "../../lib/audit.js";
import type { Ctx, Origin } from "../../lib/context.js";
import { digestsEqual, formatCredential, newSecret, parseCredential, sha256 } from "../../lib/secrets.js";
import * as repo from "./robots.repo.js";

const { robots, robotCredentials } = schema;
const HANDLE_TAKEN = "this handle is already taken in this tenant";

export function createRobotsService(deps: Pick<Services, "db" | "tokens" | "revoke">) {
  const { db } = deps;

  const load = async (tx: Tx, id: string, options: { lock?: boolean } = {}) => {
    const row = await repo.findRobot(tx, id, options);
    if (!row) throw new NotFoundError("robot");
    return row;
  };
  const present = async (tx: Tx, row: repo.RobotRow): Promise<Robot> => {
    const scopes = await repo.scopesOf(tx, [row.id]);
    return repo.toRobot(row, scopes.get(row.id) ?? { tenant: false, teamIds: [], chatgroupIds: [] });
  };
  const conflictOnHandle = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      // The unique (tenant_id, handle) key: say what is wrong, never the constraint's name.
      if (isUniqueViolation(error)) throw new ConflictError(HANDLE_TAKEN);
      throw error;
    }
  };

  return {
    list: (ctx: Ctx) =>
      withTenant(db, ctx, async (tx) => {
        const rows = await repo.listRobots(tx);
        const scopes = await repo.scopesOf(
          tx,
          rows.map((row) => row.id),
        );
        return {
          items: rows.map((row) =>
            repo.toRobot(row, scopes.get(row.id) ?? { tenant: false, teamIds: [], chatgroupIds: [] }),
          ),
        };
      }),

    get: (ctx: Ctx, id: string) => withTenant(db, ctx, async (tx) => present(tx, await load(tx, id))),

    create: (ctx: Ctx, body: CreateRobotBody): Promise<Robot> =>
      conflictOnHandle(() =>
        withTenant(db, ctx, async (tx) => {
          if (await repo.isMemberHandle(tx, body.handle)) throw new ConflictError(HANDLE_TAKEN);
          const id = uuidv7();
          const [row] = await tx
            .insert(robots)
            .values({
              tenantId: ctx.tenantId,
              id,
              handle: body.handle,
              name: body.name,
              description: body.description,
              capabilities: body.capabilities,
              maxConcurrency: body.maxConcurrency,
              config: { executor: "agent" },
              createdBy: ctx.actor.type === "user" ? ctx.actor.userId : null,
            })
            .returning();
          if (!(await repo.replaceScopes(tx, ctx.tenantId, id, body.scopes)))
            throw new NotFoundError("team or chatgroup");
          await writeAudit(tx, ctx, {
            action: "robot.created",
            targetType: "robot",
            targetId: id,
            data: { handle: body.handle },
          });
          return present(tx, row as repo.RobotRow);
        }),
      ),

    update: (ctx: Ctx, id: string, body: UpdateRobotBody): Promise<Robot> =>
      conflictOnHandle(() =>
        withTenant(db, ctx, async (tx) => {
          const current = await load(tx, id, { lock: true });
          if (body.handle && body.handle !== current.handle && (await repo.isMemberHandle(tx, body.handle)))
            throw new ConflictError(HANDLE_TAKEN);
          const { scopes, ...fields } = body;
          const [row] = Object.keys(fields).length
            ? await tx.update(robots).set(fields).where(eq(robots.id, id)).returning()
            : [current];
          if (scopes && !(await repo.replaceScopes(tx, ctx.tenantId, id, scopes)))
            throw new NotFoundError("team or chatgroup");
          await writeAudit(tx, ctx, {
            action: "robot.updated",
            targetType: "robot",
            targetId: id,
            data: { fields: Object.keys(body) },
          });
          return present(tx, row as repo.RobotRow);
        }),
      ),

    /** Revokes the robot and every credential; tokens die on every replica via the revocation. */
    async revoke(ctx: Ctx, id: string): Promise<Robot> {
      const at = new Date();
      const robot = await withTenant(db, ctx, async (tx) => {
        const current = await load(tx, id, { lock: true });
        if (current.revokedAt) return present(tx, current);
        const [row] = await tx.update(robots).set({ revokedAt: at }).where(eq(robots.id, id)).returning();
        const credentials = await repo.revokeCredentials(tx, id);
        await writeAudit(tx, ctx, {
          action: "robot.revoked",
          targetType: "robot",
          targetId: id,
          data: { credentials: credentials.map((c) => c.id) },
        });
        await enqueueEvents(tx, [
          createEvent("principal.revoked", ctx.tenantId, { kind: "robot", id, notBefore: at.toISOString() }),
        ]);
        return present(tx, row as repo.RobotRow);
      });
      await deps.revoke("robot", id, at.getTime());
      return robot;
    },

    getConfig: (ctx: Ctx, id: string): Promise<RobotConfigResponse> =>
      withTenant(db, ctx, async (tx) => {
        const row = await load(tx, id);
        return { version: row.configVersion, settings: row.config as Record<string, unknown> };
      }),

    putConfig: (ctx: Ctx, id: string, body: PutRobotConfigBody): Promise<RobotConfigResponse> =>
      withTenant(db, ctx, async (tx) => {
        const current = await load(tx, id, { lock: true });
        if (body.expectedVersion !== undefined && body.expectedVersion !== current.configVersion)
          throw new PreconditionFailedError(`the configuration is at version ${current.configVersion}`);
        const version = current.configVersion + 1;
        await tx
          .update(robots)
          .set({ config: body.settings, configVersion: version })
          .where(eq(robots.id, id));
        await writeAudit(tx, ctx, {
          action: "robot.config_changed",
          targetType: "robot",
          targetId: id,
          data: { version },
        });
        await enqueueEvents(tx, [
          createEvent("robot.config_changed", ctx.tenantId, { robotId: id, version }),
        ]);
        return { version, settings: body.settings as Record<string, unknown> };
      }),

    listCredentials: (ctx: Ctx, id: string) =>
      withTenant(db, ctx, async (tx) => {
        await load(tx, id);
        return { items: (await repo.listCredentials(tx, id)).map(repo.toCredential) };
      }),

    createCredential: (ctx: Ctx, id: string): Promise<CreateRobotCredentialResponse> =>
      withTenant(db, ctx, async (tx) => {
        const robot = await load(tx, id, { lock: true });
        if (robot.revokedAt) throw new ConflictError("the robot is revoked");
        const credentialId = uuidv7();
        const secret = newSecret();
        const [row] = await tx
          .insert(robotCredentials)
          .values({ tenantId: ctx.tenantId, id: credentialId, robotId: id, secretHash: sha256(secret) })
          .returning();
        await writeAudit(tx, ctx, {
          action: "robot.credential_created",
          targetType: "robot",
          targetId: id,
          data: { credentialId },
        });
        return {
          credential: repo.toCredential(row as typeof robotCredentials.$inferSelect),
          secret: formatCredential("prc", ctx.tenantId, credentialId, secret),
        };
      }),

    async revokeCredential(ctx: Ctx, id: string, credentialId: string): Promise<void> {
      const at = new Date();
      const changed = await withTenant(db, ctx, async (tx) => {
        await load(tx, id);
        const [row] = await tx
          .select()
          .from(robotCredentials)
          .where(and(eq(robotCredentials.id, credentialId), eq(robotCredentials.robotId, id)))
          .for("update");
        if (!row) throw new NotFoundError("credential");
        if (row.revokedAt) return false;
        await tx.update(robotCredentials).set({ revokedAt: at }).where(eq(robotCredentials.id, credentialId));
        await writeAudit(tx, ctx, {
          action: "robot.credential_revoked",
          targetType: "robot",
          targetId: id,
          data: { credentialId },
        });
        return true;
      });
      if (changed) await deps.revoke("credential", credentialId, at.getTime());
    },

    /** Credential → robot access token. Every failure is the same 401. */
    async exchange(origin: Origin, credential: string): Promise<RobotTokenResponse> {
      const refused = () => new UnauthenticatedError("invalid robot credential");
      const parsed = parseCredential("prc", credential);
      if (!parsed) throw refused();
      const robot = await withTenant(db, { tenantId: parsed.tenantId }, async (tx) => {
        const [row] = await tx
          .select({ secretHash: robotCredentials.secretHash, robot: robots })
          .from(robotCredentials)
          .innerJoin(robots, eq(robots.id, robotCredentials.robotId))
          .where(
            and(
              eq(robotCredentials.id, parsed.id),
              isNull(robotCredentials.revokedAt),
              isNull(robots.revokedAt),
            ),
          );
        if (!row || !digestsEqual(row.secretHash, sha256(parsed.secret))) return null;
        await tx
          .update(robotCredentials)
          .set({ lastUsedAt: new Date() })
          .where(eq(robotCredentials.id, parsed.id));
        await writeOriginAudit(tx, origin, {
          tenantId: parsed.tenantId,
          actorType: "robot",
          actorId: row.robot.id,
          action: "robot.token_issued",
          targetType: "robot",
          targetId: row.robot.id,
          data: { credentialId: parsed.id },
        });
        return row.robot;
      });
      if (!robot) throw refused();
      const access = await deps.tokens.robot({
        robotId: robot.id,
        tenantId: parsed.tenantId,
        handle: robot.handle,
        credentialId: parsed.id,
      });
      return {
        accessToken: access.token,
        tokenType: "Bearer",
        expiresAt: access.expiresAt.toISOString(),
        robot: { id: robot.id, tenantId: parsed.tenantId, handle: robot.handle, name: robot.name },
      };
    },

    /** The calling robot and its configuration (refused once revoked). */
    self: (ctx: Ctx, robotId: string) =>
      withTenant(db, ctx, async (tx) => {
        const row = await load(tx, robotId);
        if (row.revokedAt) throw new UnauthenticatedError("the robot is revoked");
        return {
          robot: await present(tx, row),
          config: { version: row.configVersion, settings: row.config as Record<string, unknown> },
        };
      }),
  };
}
export type RobotsService = ReturnType<typeof createRobotsService>;
