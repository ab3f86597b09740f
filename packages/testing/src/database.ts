import { randomBytes } from "node:crypto";
import { createDb, createPool, type Db, roles } from "@perseus/db";
import pg from "pg";
import { inject } from "vitest";
import "./provided.js";

export type TestDatabase = {
  name: string;
  /** URL of the application role (bound by RLS): what services use. */
  url: string;
  /** URL of the owner role on this database, for the few tests that must look past RLS. */
  ownerUrl: string;
  /** Superuser URL of this database. */
  adminUrl: string;
  pool: pg.Pool;
  db: Db;
  drop: () => Promise<void>;
};

function urlFor(base: string, database: string, user?: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  if (user) {
    url.username = user;
    url.password = "";
  }
  return url.toString();
}

async function adminQuery(sql: string) {
  const admin = new pg.Client({ connectionString: urlFor(inject("perseusAdminUrl"), "postgres") });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/**
 * A fresh database cloned from the migrated template, with a pool connected as the
 * application role. Call once per test file (beforeAll) and `drop` it afterwards.
 */
export async function createTestDatabase(options: { poolSize?: number } = {}): Promise<TestDatabase> {
  const name = `perseus_t_${randomBytes(6).toString("hex")}`;
  const template = inject("perseusTemplateDb");
  await adminQuery(`CREATE DATABASE "${name}" TEMPLATE "${template}" OWNER ${roles.owner}`);
  await adminQuery(`GRANT CONNECT ON DATABASE "${name}" TO ${roles.app}`);
  const adminUrl = urlFor(inject("perseusAdminUrl"), name);
  const url = urlFor(adminUrl, name, roles.app);
  const pool = createPool({ url, max: options.poolSize ?? 5, applicationName: "perseus-test" });
  return {
    name,
    url,
    ownerUrl: urlFor(adminUrl, name, roles.owner),
    adminUrl,
    pool,
    db: createDb(pool),
    drop: async () => {
      await pool.end().catch(() => {});
      await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
  };
}
