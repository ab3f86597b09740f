import { dispatchRoutes } from "@perseus/contracts";
import { type Db, schema } from "@perseus/db";
import { registerRoutes } from "@perseus/kit";
import { isNull } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { inTenant } from "../../lib/tx.js";
import type { Presence } from "./presence.js";

/** GET /robots/presence: the tenant's robots as online, busy or offline. */
export function registerPresenceRoutes(
  app: FastifyInstance,
  prefix: string,
  deps: { db: Db; presence: Presence },
) {
  const { robotPresence } = dispatchRoutes;
  const routes = { robotPresence };
  registerRoutes(app, prefix, routes, {
    robotPresence: async ({ actor }) => {
      const robots = await inTenant(deps.db, { tenantId: actor.tenantId }, (tx) =>
        tx.select({ id: schema.robots.id }).from(schema.robots).where(isNull(schema.robots.revokedAt)),
      );
      return {
        items: await deps.presence.list(
          actor.tenantId,
          robots.map((robot) => robot.id),
        ),
      };
    },
  });
}
