import { schema, type Tx } from "@perseus/db";
import { asc, type SQL, sql } from "drizzle-orm";

const { tasks } = schema;

/** `now() + ms` by the database clock: leases and offers never trust a replica's clock. */
export const fromNow = (ms: number) => sql`(now() + ${ms}::float8 * interval '1 millisecond')`;

/** The retry delay before the next attempt after `attempt` leases: base * 2^(attempt-1), capped. */
export const backoffFromNow = (baseMs: number, maxMs: number) =>
  sql`(now() + least(${maxMs}::float8, ${baseMs}::float8 * power(2, greatest(${tasks.attempt}, 1) - 1)) * interval '1 millisecond')`;

/**
 * The robot and the credential it connected with are not revoked. Part of every lease
 * write, so revocation refuses lease writes in the database even before sockets close.
 */
export const robotIsAlive = (credentialId: string) => sql`(
  exists (select 1 from robots r where r.id = ${tasks.robotId} and r.revoked_at is null)
  and not exists (select 1 from robot_credentials c where c.id = ${credentialId}::uuid and c.revoked_at is not null))`;

/** The fence of every robot write: this robot, this epoch, a live lease by the database clock. */
export const fenced = (
  robot: { robotId: string; credentialId: string },
  taskId: string,
  epoch: number,
) => sql`(
  ${tasks.id} = ${taskId}::uuid and ${tasks.robotId} = ${robot.robotId}::uuid
  and ${tasks.leaseEpoch} = ${epoch} and ${tasks.status} = 'running'
  and ${tasks.leaseExpiresAt} > now() and ${robotIsAlive(robot.credentialId)})`;

/** Tasks that hold a slot of their robot: offered to a connection or running under a lease. */
export const holdsSlot = sql`${tasks.status} in ('offered', 'running')`;

/**
 * Locks the matching task rows in id order before a multi-row update. Every statement that
 * changes several tasks takes its locks in this one order, so two of them never deadlock.
 */
export async function lockTasksInOrder(tx: Tx, where: SQL): Promise<string[]> {
  const rows = await tx
    .select({ id: tasks.id })
    .from(tasks)
    .where(where)
    .orderBy(asc(tasks.id))
    .for("update");
  return rows.map((row) => row.id);
}
