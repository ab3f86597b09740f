import { statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { LOG_LEVELS, type LogLevel } from "./log.js";
import { CommandTemplate, LocalSettings } from "./settings.js";

/** The process environment. The one place that reads it (Biome enforces that). */
export function readHostEnv(): Record<string, string | undefined> {
  return process.env;
}

/**
 * Who approves dangerous commands. `platform` (the default when connected): an owner or
 * admin, in the console; `tty`/`command`: someone on this host; `deny`: nobody.
 */
export const ApproverConfig = z.discriminatedUnion("type", [
  z.object({ type: z.literal("deny") }),
  z.object({ type: z.literal("platform"), timeoutMs: z.number().int().min(1_000).max(3_600_000).optional() }),
  z.object({ type: z.literal("tty"), timeoutMs: z.number().int().min(1_000).optional() }),
  z.object({
    type: z.literal("command"),
    command: CommandTemplate,
    timeoutMs: z.number().int().min(1_000).optional(),
  }),
]);
export type ApproverConfig = z.infer<typeof ApproverConfig>;

/** `~/.config/perseus-nanobot/config.json`: connection options plus the local robot settings. */
export const ConfigFile = LocalSettings.extend({
  url: z.url().optional(),
  /** `prc_…`. Keep this file private (chmod 600). */
  credential: z.string().optional(),
  transport: z.enum(["ws", "poll", "auto"]).optional(),
  concurrency: z.number().int().min(1).max(64).optional(),
  dataDir: z.string().optional(),
  sandboxDir: z.string().optional(),
  logLevel: z.enum(LOG_LEVELS).optional(),
  shutdownGraceMs: z.number().int().min(0).max(3_600_000).optional(),
  approver: ApproverConfig.optional(),
});
export type ConfigFile = z.infer<typeof ConfigFile>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

const expandHome = (path: string, env: Record<string, string | undefined>) =>
  path === "~" || path.startsWith("~/") ? join(env.HOME ?? homedir(), path.slice(1)) : path;

export function defaultConfigPath(env: Record<string, string | undefined>) {
  return join(
    env.XDG_CONFIG_HOME ?? join(env.HOME ?? homedir(), ".config"),
    "perseus-nanobot",
    "config.json",
  );
}

export function defaultDataDir(env: Record<string, string | undefined>) {
  return join(env.XDG_STATE_HOME ?? join(env.HOME ?? homedir(), ".local", "state"), "perseus-nanobot");
}

/** Reads and validates the config file; a missing file is fine unless it was named explicitly. */
export async function loadConfigFile(
  path: string,
  options: { required: boolean; warn?: (message: string) => void },
): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" && !options.required) return {};
    throw new ConfigError(`cannot read the config file ${path}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`the config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = ConfigFile.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`)
      .join("\n");
    throw new ConfigError(`the config file ${path} is invalid:\n${issues}`);
  }
  const holdsSecrets =
    parsed.data.credential !== undefined ||
    Object.values(parsed.data.models ?? {}).some((m) => m.apiKey) ||
    (parsed.data.agent?.profiles ?? []).some((p) => p.apiKey);
  if (holdsSecrets && (statSync(path).mode & 0o077) !== 0) {
    options.warn?.(`${path} holds secrets but is readable by others: chmod 600 ${path}`);
  }
  return parsed.data;
}

/**
 * Tracing of task runs, from the standard OpenTelemetry variables: on when
 * OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set. The exporter
 * itself reads OTEL_EXPORTER_OTLP_HEADERS.
 */
export function tracingFromEnv(env: Record<string, string | undefined>) {
  const url = (name: string) => {
    const value = env[name]?.trim();
    if (!value) return undefined;
    if (!z.url().safeParse(value).success) throw new ConfigError(`${name} must be a URL (got ${value})`);
    return value;
  };
  const ratio = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  const sampleRatio = ratio ? Number(ratio) : 1;
  if (!(sampleRatio >= 0 && sampleRatio <= 1))
    throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1 (got ${ratio})`);
  return {
    endpoint: url("OTEL_EXPORTER_OTLP_ENDPOINT"),
    tracesEndpoint: url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
    sampleRatio,
  };
}

/** Flags as commander gives them (all optional strings). */
export type ConnectFlags = {
  url?: string;
  credential?: string;
  token?: string;
  config?: string;
  transport?: string;
  concurrency?: string;
  dataDir?: string;
  sandboxDir?: string;
  logLevel?: string;
  approver?: string;
  graceMs?: string;
};

export type ConnectOptions = {
  url: string;
  credential?: string;
  /** A ready access token instead of a credential (advanced; cannot be refreshed). */
  token?: string;
  transport: "ws" | "poll" | "auto";
  concurrency: number;
  dataDir: string;
  sandboxDir?: string;
  logLevel: LogLevel;
  shutdownGraceMs: number;
  approver: ApproverConfig;
  file: ConfigFile;
  configPath: string;
  crashAt?: "result-written" | "result-sent";
  tracing: ReturnType<typeof tracingFromEnv>;
};

function pickEnum<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  name: string,
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value))
    throw new ConfigError(`${name} must be one of ${allowed.join(", ")} (got ${value})`);
  return value as T;
}

function pickInt(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(`${name} must be an integer from ${min} to ${max} (got ${value})`);
  return n;
}

/** Flags win over environment variables, which win over the config file. */
export async function resolveConnectOptions(
  flags: ConnectFlags,
  env: Record<string, string | undefined>,
  options: { requireCredential: boolean; warn?: (message: string) => void },
): Promise<ConnectOptions> {
  const explicitConfig = flags.config ?? env.PERSEUS_NANOBOT_CONFIG;
  const configPath = resolve(expandHome(explicitConfig ?? defaultConfigPath(env), env));
  const file = await loadConfigFile(configPath, {
    required: explicitConfig !== undefined,
    warn: options.warn,
  });
  const url = flags.url ?? env.PERSEUS_URL ?? file.url;
  if (!url)
    throw new ConfigError('no platform URL: pass --url, set PERSEUS_URL, or put "url" in the config file');
  if (!z.url().safeParse(url).success || !/^https?:/.test(url))
    throw new ConfigError(`the platform URL must be http(s)://… (got ${url})`);
  const credential = flags.credential ?? env.PERSEUS_ROBOT_CREDENTIAL ?? file.credential;
  const token = flags.token ?? env.PERSEUS_ROBOT_TOKEN;
  if (options.requireCredential && !credential && !token) {
    throw new ConfigError(
      'no robot credential: pass --credential, set PERSEUS_ROBOT_CREDENTIAL, or put "credential" in the config file',
    );
  }
  const approverType = pickEnum(flags.approver, ["deny", "tty", "platform"] as const, "--approver");
  return {
    url,
    credential,
    token,
    transport:
      pickEnum(
        flags.transport ?? env.PERSEUS_NANOBOT_TRANSPORT,
        ["ws", "poll", "auto"] as const,
        "--transport",
      ) ??
      file.transport ??
      "auto",
    concurrency: pickInt(flags.concurrency, "--concurrency", 1, 64) ?? file.concurrency ?? 1,
    dataDir: resolve(
      expandHome(flags.dataDir ?? env.PERSEUS_NANOBOT_DATA_DIR ?? file.dataDir ?? defaultDataDir(env), env),
    ),
    sandboxDir:
      (flags.sandboxDir ?? file.sandboxDir)
        ? resolve(expandHome((flags.sandboxDir ?? file.sandboxDir)!, env))
        : undefined,
    logLevel:
      pickEnum(flags.logLevel ?? env.PERSEUS_NANOBOT_LOG_LEVEL, LOG_LEVELS, "--log-level") ??
      file.logLevel ??
      "info",
    shutdownGraceMs: pickInt(flags.graceMs, "--grace-ms", 0, 3_600_000) ?? file.shutdownGraceMs ?? 10_000,
    approver: approverType ? { type: approverType } : (file.approver ?? { type: "platform" }),
    file,
    configPath,
    tracing: tracingFromEnv(env),
    crashAt: pickEnum(
      env.PERSEUS_NANOBOT_CRASH_AT,
      ["result-written", "result-sent"] as const,
      "PERSEUS_NANOBOT_CRASH_AT",
    ),
  };
}
