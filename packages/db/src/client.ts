import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import pg from "pg";
import * as schema from "./schema/index.js";

export type Schema = typeof schema;
export type Db = NodePgDatabase<Schema> & { $client: pg.Pool };
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
/** Repos take either the pool-backed database or a transaction. */
export type DbOrTx = Db | Tx;

export type PoolOptions = {
  url: string;
  max?: number;
  /** Fail a query that waits longer than this for a free connection. */
  connectionTimeoutMs?: number;
  statementTimeoutMs?: number;
  applicationName?: string;
};

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
    statement_timeout: options.statementTimeoutMs ?? 15_000,
    application_name: options.applicationName ?? "perseus",
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its server (restart, killed backend) must not crash the process;
  // the pool drops it and the next checkout opens a fresh connection.
  pool.on("error", () => {});
  // pg removes the pool's listener while a client is checked out; without one of its own,
  // a connection dropped mid-transaction (server restart, killed backend) would crash the
  // process instead of failing that one query.
  pool.on("connect", (client) => {
    client.on("error", () => {});
  });
  return pool;
}

export function createDb(pool: pg.Pool): Db {
  return drizzle({ client: pool, schema, casing: "snake_case" }) as Db;
}

/** What every service call carries: whose data, and who is acting. */
export type TenantContext = { tenantId: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type WithTenantOptions = { isolationLevel?: "read committed" | "repeatable read" | "serializable" };

/**
 * Runs `fn` in a transaction bound to one tenant: row-level security then shows and
 * accepts only that tenant's rows. The setting is transaction-local, so it can never
 * leak to the next user of the pooled connection.
 *
 * The connection is checked out here rather than through drizzle's pool transaction,
 * which sends BEGIN outside its try/finally: a BEGIN on a killed backend would never
 * return the connection and the pool would slowly run dry. Here every path releases it,
 * and a connection whose ROLLBACK failed is destroyed instead of reused. BEGIN and the
 * tenant setting travel in one round trip (the id is checked to be a UUID first).
 */
// A drizzle instance per pooled connection, made on its first transaction: building one
// walks the whole schema and cost more than the transaction's own queries.
const txByClient = new WeakMap<pg.PoolClient, Tx>();
function txFor(client: pg.PoolClient): Tx {
  let tx = txByClient.get(client);
  if (!tx) {
    tx = drizzle({ client, schema, casing: "snake_case" }) as unknown as Tx;
    txByClient.set(client, tx);
  }
  return tx;
}

export async function withTenant<T>(
  db: Db,
  ctx: TenantContext,
  fn: (tx: Tx) => Promise<T>,
  options: WithTenantOptions = {},
): Promise<T> {
  if (!UUID.test(ctx.tenantId)) throw new TypeError("withTenant: tenantId must be a UUID");
  const isolation = options.isolationLevel ? ` ISOLATION LEVEL ${options.isolationLevel.toUpperCase()}` : "";
  const client = await db.$client.connect();
  let isReusable = true;
  try {
    await client.query(`BEGIN${isolation}; SELECT set_config('app.tenant_id', '${ctx.tenantId}', true)`);
    const tx = txFor(client);
    const result = await fn(tx);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {
      isReusable = false;
    });
    throw error;
  } finally {
    client.release(isReusable ? undefined : true);
  }
}

/** Postgres error code of a failed query, if it is one. */
export function pgErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  // drizzle wraps driver errors; look through `cause`.
  for (let depth = 0; current && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export const isUniqueViolation = (error: unknown) => pgErrorCode(error) === "23505";
export const isForeignKeyViolation = (error: unknown) => pgErrorCode(error) === "23503";
