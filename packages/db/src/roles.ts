/** Database roles. Fixed names keep grants and policies readable; passwords come from config. */
export const roles = {
  /** Owns the schema and runs migrations. */
  owner: "perseus_owner",
  /** What services connect as: not owner, not superuser, not BYPASSRLS. */
  app: "perseus_app",
  /** NOLOGIN, BYPASSRLS: owns only the narrow cross-tenant functions (outbox relay, sweeps). */
  system: "perseus_system",
} as const;
