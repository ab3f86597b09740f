import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (the launcher lives in scripts/launcher/). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
