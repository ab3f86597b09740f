import type { WorkspaceConfig } from "../config.js";
import type { StorageDriver } from "./driver.js";
import { createLocalStorage } from "./local.js";
import { createS3Storage } from "./s3.js";

export * from "./driver.js";
export { createLocalStorage } from "./local.js";
export { createS3Storage } from "./s3.js";

/** The storage driver the configuration names. */
export async function createStorage(config: WorkspaceConfig): Promise<StorageDriver> {
  if (config.WORKSPACE_STORAGE_DRIVER === "local")
    return createLocalStorage({ root: config.WORKSPACE_STORAGE_DIR });
  const accessKeyId = config.WORKSPACE_S3_ACCESS_KEY_ID;
  const secretAccessKey = config.WORKSPACE_S3_SECRET_ACCESS_KEY;
  return createS3Storage({
    bucket: config.WORKSPACE_S3_BUCKET ?? "",
    prefix: config.WORKSPACE_S3_PREFIX,
    region: config.WORKSPACE_S3_REGION,
    endpoint: config.WORKSPACE_S3_ENDPOINT,
    forcePathStyle: config.WORKSPACE_S3_FORCE_PATH_STYLE,
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
  });
}
