import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const SERVICES = ["auth", "chat", "dispatch", "workspace", "edge"] as const;
export type ServiceName = (typeof SERVICES)[number];

type ZodLike = { shape?: Record<string, unknown>; def?: { in?: { shape?: Record<string, unknown> } } };
type ConfigModule = { loadConfig: (env: Record<string, string | undefined>) => unknown } & Record<
  string,
  unknown
>;

/**
 * A service's own config parser and variable names, from its built dist/config.js: the
 * deployment files are checked against exactly what the service will parse at start.
 */
export async function serviceConfig(name: ServiceName) {
  const file = join(ROOT, "apps", name, "dist", "config.js");
  if (!existsSync(file)) throw new Error(`${file} is missing: run pnpm build first`);
  const module = (await import(pathToFileURL(file).href)) as ConfigModule;
  const schemaName = Object.keys(module).find((key) => key.endsWith("Config") && key !== "loadConfig");
  const schema = module[schemaName!] as ZodLike;
  const shape = schema.shape ?? schema.def?.in?.shape;
  if (!shape) throw new Error(`${name}: cannot read the variables of ${schemaName}`);
  return { load: module.loadConfig, variables: new Set(Object.keys(shape)) };
}

export const readText = (path: string) => readFileSync(join(ROOT, path), "utf8");
