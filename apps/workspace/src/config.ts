import { BaseConfig, parseConfig } from "@perseus/kit";
import { z } from "zod";

const MiB = 1024 * 1024;
const flag = z
  .enum(["true", "false", "1", "0"])
  .default("false")
  .transform((value) => value === "true" || value === "1");

export const WorkspaceConfig = BaseConfig.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(7704),
  // Where the auth service publishes its JWKS (token verification keys).
  AUTH_JWKS_URL: z.url().default("http://127.0.0.1:7701/api/auth/.well-known/jwks.json"),
  // The issuer every access token must name.
  AUTH_ISSUER: z.string().default("perseus"),
  // Where file bytes live: "local" (a directory this service owns) or "s3" (any S3-compatible store).
  WORKSPACE_STORAGE_DRIVER: z.enum(["local", "s3"]).default("local"),
  // Root directory of the local driver (objects/ and tmp/ are created below it).
  WORKSPACE_STORAGE_DIR: z.string().min(1).default(".perseus/workspace"),
  // S3 driver: bucket, region, optional endpoint of an S3-compatible server, key prefix and credentials
  // (without credentials the AWS SDK's default chain applies: env, profile, instance role).
  WORKSPACE_S3_BUCKET: z.string().min(3).max(63).optional(),
  WORKSPACE_S3_REGION: z.string().default("us-east-1"),
  WORKSPACE_S3_ENDPOINT: z.url().optional(),
  WORKSPACE_S3_FORCE_PATH_STYLE: flag,
  WORKSPACE_S3_PREFIX: z
    .string()
    .regex(/^([A-Za-z0-9_.-]+\/)*$/)
    .default(""),
  WORKSPACE_S3_ACCESS_KEY_ID: z.string().optional(),
  WORKSPACE_S3_SECRET_ACCESS_KEY: z.string().optional(),
  // Largest file accepted, in bytes (keep it under 5 GiB with the S3 driver).
  WORKSPACE_MAX_FILE_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .default(1024 * MiB),
  // Default per-tenant quota: the bytes of all kept versions (a tenant's usage row may override it).
  WORKSPACE_TENANT_QUOTA_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(10 * 1024 * MiB),
  // Versions kept per file; older ones are pruned on write.
  WORKSPACE_MAX_VERSIONS: z.coerce.number().int().min(1).max(1000).default(20),
  // An upload that sends nothing for this long is cut off (408).
  WORKSPACE_UPLOAD_IDLE_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  // No upload may take longer than this in total.
  WORKSPACE_UPLOAD_TIMEOUT_MS: z.coerce.number().int().min(1_000).default(3_600_000),
  // Entries per layer one listing reads at most (the response says when it was truncated).
  WORKSPACE_LIST_LIMIT: z.coerce.number().int().min(10).max(100_000).default(10_000),
}).refine((config) => config.WORKSPACE_STORAGE_DRIVER !== "s3" || config.WORKSPACE_S3_BUCKET, {
  message: "WORKSPACE_S3_BUCKET is required with WORKSPACE_STORAGE_DRIVER=s3",
  path: ["WORKSPACE_S3_BUCKET"],
});
export type WorkspaceConfig = z.infer<typeof WorkspaceConfig>;

/** Parses the workspace service's settings (documented in apps/workspace/README.md). */
export function loadConfig(env: Record<string, string | undefined> = process.env): WorkspaceConfig {
  return parseConfig(WorkspaceConfig, env);
}
