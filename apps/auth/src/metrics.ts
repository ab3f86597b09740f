import type { Db } from "@perseus/db";
import { type Registry, registerOutboxMetrics } from "@perseus/kit";

/** The auth service's own metrics: the backlog of the `identity` topic in the outbox. */
export function registerAuthMetrics(registry: Registry, sources: { pool: Db["$client"] }): void {
  registerOutboxMetrics(registry, { pool: sources.pool, topics: ["identity"] });
}
