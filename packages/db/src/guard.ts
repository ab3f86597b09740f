import type pg from "pg";

export type RoleReport = {
  role: string;
  isSuperuser: boolean;
  bypassesRls: boolean;
  ownedTables: string[];
};

export class RlsBypassError extends Error {
  override name = "RlsBypassError";
}

/** Describes the connected role: what would let it see past row-level security. */
export async function inspectRole(pool: pg.Pool | pg.ClientBase): Promise<RoleReport> {
  const role = await pool.query<{ role: string; rolsuper: boolean; rolbypassrls: boolean }>(
    "SELECT current_user AS role, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
  );
  const owned = await pool.query<{ relname: string }>(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r','p') AND pg_has_role(current_user, c.relowner, 'USAGE')`,
  );
  const row = role.rows[0];
  if (!row) throw new Error("could not read the connected role");
  return {
    role: row.role,
    isSuperuser: row.rolsuper,
    bypassesRls: row.rolbypassrls,
    ownedTables: owned.rows.map((r) => r.relname),
  };
}

/**
 * Throws unless the connection is bound by row-level security. Services call this at
 * start and refuse to run otherwise: a superuser, BYPASSRLS role or table owner would
 * silently see every tenant's rows.
 */
export async function assertRlsEnforced(pool: pg.Pool | pg.ClientBase): Promise<RoleReport> {
  const report = await inspectRole(pool);
  const reasons: string[] = [];
  if (report.isSuperuser) reasons.push("it is a superuser");
  if (report.bypassesRls) reasons.push("it has BYPASSRLS");
  if (report.ownedTables.length)
    reasons.push(`it owns tables (${report.ownedTables.slice(0, 5).join(", ")})`);
  if (reasons.length) {
    throw new RlsBypassError(
      `refusing to start: database role "${report.role}" bypasses row-level security because ${reasons.join(
        " and ",
      )}. Connect services as the application role (perseus_app); run migrations with the admin URL.`,
    );
  }
  return report;
}

export type RlsViolation = { table: string; problem: string };

/** Tables that are global on purpose (identity shared across tenants, key material). */
export const globalTables = ["users", "oidc_identities", "refresh_tokens", "signing_keys"] as const;

/**
 * Every public table with a tenant_id column must have RLS enabled and forced and at
 * least one policy; every other table must be on the global allow-list.
 */
export async function findRlsViolations(pool: pg.Pool | pg.ClientBase): Promise<RlsViolation[]> {
  const { rows } = await pool.query<{
    relname: string;
    has_tenant: boolean;
    relrowsecurity: boolean;
    relforcerowsecurity: boolean;
    policies: number;
    policy_uses_tenant: boolean;
  }>(
    `SELECT c.relname,
       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS has_tenant,
       c.relrowsecurity, c.relforcerowsecurity,
       (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid
               AND pg_get_expr(p.polqual, p.polrelid) LIKE '%tenant_id%perseus_current_tenant()%') AS policy_uses_tenant
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r','p')
     ORDER BY c.relname`,
  );
  const violations: RlsViolation[] = [];
  for (const row of rows) {
    const isGlobal = (globalTables as readonly string[]).includes(row.relname);
    if (isGlobal) continue;
    if (!row.has_tenant)
      violations.push({ table: row.relname, problem: "no tenant_id column and not declared global" });
    if (!row.relrowsecurity)
      violations.push({ table: row.relname, problem: "row-level security not enabled" });
    if (!row.relforcerowsecurity)
      violations.push({ table: row.relname, problem: "row-level security not forced" });
    if (row.policies === 0) violations.push({ table: row.relname, problem: "no policy" });
    else if (!row.policy_uses_tenant)
      violations.push({ table: row.relname, problem: "no policy on the tenant context" });
  }
  return violations;
}
