import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { applySchema, ensureDatabase, ensureRoles, migrationsFolder } from "@perseus/db/migrate";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { resolveTestInfra } from "./config.js";
import "./provided.js";

/** Hash of every migration and SQL script: a changed schema gets a fresh template. */
function schemaFingerprint(): string {
  const hash = createHash("sha256");
  const sqlFolder = join(migrationsFolder, "..", "sql");
  for (const folder of [migrationsFolder, sqlFolder]) {
    for (const file of readdirSync(folder)
      .filter((f) => f.endsWith(".sql"))
      .sort()) {
      hash.update(file).update(readFileSync(join(folder, file)));
    }
  }
  return hash.digest("hex").slice(0, 12);
}

function withDatabase(url: string, database: string): string {
  const next = new URL(url);
  next.pathname = `/${database}`;
  return next.toString();
}

/**
 * Runs once per test run: makes sure the roles exist and a migrated template database
 * matching the current schema exists. Each test file then clones it (fast, isolated).
 */
export default async function setup(project: TestProject) {
  const infra = await resolveTestInfra();
  const template = `perseus_tpl_${schemaFingerprint()}`;
  const admin = new pg.Client({ connectionString: withDatabase(infra.adminUrl, "postgres") });
  await admin.connect();
  try {
    await ensureRoles(admin, {});
    // Another run may be building the same template: serialise on an advisory lock.
    await admin.query("SELECT pg_advisory_lock(hashtextextended('perseus.test-template', 0))");
    const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [template]);
    if (!exists.rowCount) {
      const building = `${template}_building`;
      await admin.query(`DROP DATABASE IF EXISTS "${building}"`);
      await ensureDatabase(admin, building);
      const client = new pg.Client({ connectionString: withDatabase(infra.adminUrl, building) });
      await client.connect();
      try {
        await applySchema(client, building);
      } finally {
        await client.end();
      }
      await admin.query(`ALTER DATABASE "${building}" RENAME TO "${template}"`);
      await admin.query(`ALTER DATABASE "${template}" WITH IS_TEMPLATE true`);
    }
    await admin.query("SELECT pg_advisory_unlock_all()");
    await dropStaleTestDatabases(admin);
  } finally {
    await admin.end();
  }
  project.provide("perseusAdminUrl", infra.adminUrl);
  project.provide("perseusRedisUrl", infra.redisUrl);
  project.provide("perseusTemplateDb", template);
}

/** Per-file databases left behind by killed runs (older than an hour) are dropped. */
async function dropStaleTestDatabases(admin: pg.Client) {
  const { rows } = await admin
    .query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE 'perseus_t_%'
       AND (pg_stat_file('base/' || oid || '/PG_VERSION')).modification < now() - interval '1 hour'`,
    )
    .catch(() => ({ rows: [] as { datname: string }[] }));
  for (const { datname } of rows) {
    await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {});
  }
}
