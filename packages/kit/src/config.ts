import { z } from "zod";

/** An optional URL where an empty value (compose's `${VAR:-}`) means unset. */
const optionalUrl = z
  .union([z.literal(""), z.url()])
  .optional()
  .transform((value) => value || undefined);

/** `name=value,name2=value2` (the OTLP exporter's header format; values may be URL-encoded). */
const otlpHeaders = z
  .string()
  .default("")
  .transform((value, ctx) => {
    const headers: Record<string, string> = {};
    for (const item of value.split(",")) {
      if (!item.trim()) continue;
      const at = item.indexOf("=");
      if (at <= 0) {
        ctx.addIssue({ code: "custom", message: "expected name=value pairs separated by commas" });
        return z.NEVER;
      }
      try {
        headers[item.slice(0, at).trim()] = decodeURIComponent(item.slice(at + 1).trim());
      } catch {
        ctx.addIssue({ code: "custom", message: `header ${item.slice(0, at).trim()} is not URL-encoded` });
        return z.NEVER;
      }
    }
    return headers;
  });

/**
 * Settings every service shares. Each service extends this with its own fields; all
 * are documented in the root `.env.example`.
 */
export const BaseConfig = z.object({
  NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  HOST: z.string().default("127.0.0.1"),
  // Postgres URL of the application role (never the owner or a superuser).
  DATABASE_URL: z.url().default("postgres://perseus_app@127.0.0.1:5432/perseus"),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  REDIS_URL: z.url().default("redis://127.0.0.1:6379"),
  // Prefix of every Redis key and BullMQ queue, so several installations can share a Redis.
  REDIS_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9_-]+$/)
    .default("perseus"),
  // Identifies this replica in logs, the service registry and stream consumer groups.
  INSTANCE_ID: z.string().min(1).max(64).optional(),
  // The public origin of the console (browser Origin checks, links in responses).
  PUBLIC_ORIGIN: z.url().default("http://127.0.0.1:7700"),
  // OTLP/HTTP base URL of a trace collector (OpenTelemetry Collector, Jaeger, Tempo…); spans go to <url>/v1/traces. Empty: tracing off, at no cost.
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  // Full OTLP/HTTP URL for spans; wins over OTEL_EXPORTER_OTLP_ENDPOINT.
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalUrl,
  // Headers sent with every span export, `name=value` comma-separated (e.g. a hosted collector's API key).
  OTEL_EXPORTER_OTLP_HEADERS: otlpHeaders,
  // Share of new traces recorded (0 to 1); a request that arrives with a trace follows its caller's decision.
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
});
export type BaseConfig = z.infer<typeof BaseConfig>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Parses configuration once at start. Invalid settings stop the process with one line
 * per problem, naming the variable, instead of failing later at first use.
 */
export function parseConfig<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined>,
): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
}
