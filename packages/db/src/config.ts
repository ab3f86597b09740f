export type MigrateConfig = { adminUrl: string; ownerPassword?: string; appPassword?: string };

/** Reads the migrate command's settings (documented in .env.example). */
export function loadMigrateConfig(env: NodeJS.ProcessEnv = process.env): MigrateConfig {
  return {
    // Superuser (or CREATEROLE + CREATEDB) URL of the target database.
    adminUrl: env.DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/perseus",
    ...(env.PERSEUS_DB_OWNER_PASSWORD ? { ownerPassword: env.PERSEUS_DB_OWNER_PASSWORD } : {}),
    ...(env.PERSEUS_DB_APP_PASSWORD ? { appPassword: env.PERSEUS_DB_APP_PASSWORD } : {}),
  };
}
