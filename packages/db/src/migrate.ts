import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate as runDrizzleMigrations } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import { roles } from "./roles.js";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
export const migrationsFolder = join(packageRoot, "migrations");
const sqlFolder = join(packageRoot, "sql");

export type MigrateOptions = {
  /** A superuser (or CREATEROLE + CREATEDB) connection string naming the target database. */
  adminUrl: string;
  /** Passwords to give the login roles (omit with trust/peer auth). */
  ownerPassword?: string | undefined;
  appPassword?: string | undefined;
  log?: (line: string) => void;
};

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
const quoteLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`;

function isDuplicate(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  // duplicate_object, duplicate_database, unique_violation (concurrent CREATE ROLE)
  return code === "42710" || code === "42P04" || code === "23505";
}

async function ignoreDuplicate(run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (!isDuplicate(error)) throw error;
  }
}

/** Advisory lock key of role changes (callers connect to the same maintenance database). */
const ROLES_LOCK = "hashtextextended('perseus.roles', 0)";

/** Creates the three Perseus roles if missing and (re)states their attributes. */

export async function ensureRoles(
  client: pg.ClientBase,
  options: Pick<MigrateOptions, "ownerPassword" | "appPassword">,
) {
  const password = (value: string | undefined) => (value ? ` PASSWORD ${quoteLiteral(value)}` : "");
  const statements: [string, string][] = [
    [roles.owner, `LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE${password(options.ownerPassword)}`],
    [roles.app, `LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB${password(options.appPassword)}`],
    [roles.system, "NOLOGIN NOSUPERUSER BYPASSRLS"],
  ];
  // Roles are cluster-wide and two migrations (or test runs) may start together: concurrent
  // ALTER ROLEs of one role fail with "tuple concurrently updated", so they take turns.
  await client.query(`SELECT pg_advisory_lock(${ROLES_LOCK})`);
  try {
    for (const [name, attributes] of statements) {
      await ignoreDuplicate(() => client.query(`CREATE ROLE ${quoteIdent(name)}`));
      await client.query(`ALTER ROLE ${quoteIdent(name)} ${attributes}`);
    }
    // The owner may hand functions to perseus_system (ALTER FUNCTION ... OWNER TO).
    await ignoreDuplicate(() =>
      client.query(`GRANT ${quoteIdent(roles.system)} TO ${quoteIdent(roles.owner)}`),
    );
  } finally {
    await client.query(`SELECT pg_advisory_unlock(${ROLES_LOCK})`);
  }
}

/** Creates the database (owned by perseus_owner) when it does not exist yet. */
export async function ensureDatabase(client: pg.ClientBase, database: string, template?: string) {
  const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
  if (exists.rowCount) return false;
  const from = template ? ` TEMPLATE ${quoteIdent(template)}` : "";
  await ignoreDuplicate(() =>
    client.query(`CREATE DATABASE ${quoteIdent(database)} OWNER ${quoteIdent(roles.owner)}${from}`),
  );
  return true;
}

/** Applies drizzle migrations, then the idempotent RLS, function and grant scripts, as perseus_owner. */
export async function applySchema(client: pg.Client, database: string) {
  await client.query(`GRANT CONNECT ON DATABASE ${quoteIdent(database)} TO ${quoteIdent(roles.app)}`);
  await client.query(`ALTER DATABASE ${quoteIdent(database)} OWNER TO ${quoteIdent(roles.owner)}`);
  await client.query(`SET ROLE ${quoteIdent(roles.owner)}`);
  try {
    // Serialise concurrent migrators (several replicas starting at once).
    await client.query("SELECT pg_advisory_lock(hashtextextended('perseus.migrate', 0))");
    await runDrizzleMigrations(drizzle({ client }), { migrationsFolder });
    for (const file of readdirSync(sqlFolder)
      .filter((name) => name.endsWith(".sql"))
      .sort()) {
      await client.query(readFileSync(join(sqlFolder, file), "utf8"));
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock_all()");
    await client.query("RESET ROLE");
  }
}

/** The whole migrate command: roles, database, schema. Safe to run any number of times. */
export async function migrate(options: MigrateOptions): Promise<void> {
  const log = options.log ?? (() => {});
  const target = new URL(options.adminUrl);
  const database = decodeURIComponent(target.pathname.slice(1)) || "perseus";
  const maintenanceUrl = new URL(options.adminUrl);
  maintenanceUrl.pathname = "/postgres";

  const maintenance = new pg.Client({ connectionString: maintenanceUrl.toString() });
  await maintenance.connect();
  try {
    await ensureRoles(maintenance, options);
    if (await ensureDatabase(maintenance, database)) log(`created database ${database}`);
  } finally {
    await maintenance.end();
  }

  const client = new pg.Client({ connectionString: target.toString() });
  await client.connect();
  try {
    await applySchema(client, database);
    log(`database ${database} is migrated`);
  } finally {
    await client.end();
  }
}
