import { BaseConfig, parseConfig } from "@perseus/kit";
import { z } from "zod";

const DEV_KEY_SECRET = "perseus-development-key-secret-never-use-in-production";
const bool = z.enum(["true", "false", "1", "0"]).transform((value) => value === "true" || value === "1");
const int = (min: number, max: number, fallback: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

export const AuthConfig = BaseConfig.extend({
  PORT: int(0, 65535, 7701),
  // The issuer every access token names; every service verifies with the same value.
  AUTH_ISSUER: z.string().min(1).default("perseus"),
  // Encrypts signing keys at rest (AES-256-GCM, key derived with HKDF). Required in production.
  AUTH_KEY_SECRET: z.string().min(32).optional(),
  // A rotated-in key is published this long before it signs, so remote JWKS caches pick it up first.
  AUTH_KEY_ACTIVATION_DELAY_SECONDS: int(0, 3600, 60),
  // When set, only owners of this tenant may rotate the (platform-wide) signing key.
  AUTH_PLATFORM_TENANT_ID: z.uuid().optional(),
  AUTH_ACCESS_TTL_SECONDS: int(30, 3600, 600),
  AUTH_ROBOT_TOKEN_TTL_SECONDS: int(30, 3600, 600),
  AUTH_REFRESH_TTL_DAYS: int(1, 365, 30),
  // A rotated refresh credential presented again within this window (a lost response) works once.
  AUTH_REFRESH_GRACE_SECONDS: int(0, 120, 10),
  // Secure cookies need HTTPS; set false only for plain-http development.
  AUTH_COOKIE_SECURE: bool.default(true),
  // Failed sign-ins before an account locks; the lock doubles from AUTH_LOCKOUT_SECONDS up to 15 min.
  AUTH_LOCKOUT_THRESHOLD: int(1, 100, 5),
  AUTH_LOCKOUT_SECONDS: int(1, 3600, 30),
  // argon2id cost (OWASP: 19 MiB, 2 passes). Tests lower it to stay fast.
  AUTH_ARGON2_MEMORY_KIB: int(1024, 1_048_576, 19_456),
  AUTH_ARGON2_PASSES: int(1, 10, 2),
  // OIDC sign-in (authorization code + PKCE); off unless issuer and client id are set.
  AUTH_OIDC_ISSUER: z.url().optional(),
  AUTH_OIDC_CLIENT_ID: z.string().min(1).optional(),
  // Omit for a public client (PKCE only); set for client_secret_basic.
  AUTH_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  // Default: PUBLIC_ORIGIN + /api/auth/oidc/callback (register it at the provider).
  AUTH_OIDC_REDIRECT_URI: z.url().optional(),
  // Where the browser lands after an OIDC sign-in (it then calls /api/auth/refresh). Default: PUBLIC_ORIGIN + /.
  AUTH_OIDC_AFTER_LOGIN_URL: z.url().optional(),
  // Rate limits (per minute unless named otherwise), counted in Redis across replicas.
  RATE_LIMIT_LOGIN_PER_IP: int(1, 100_000, 30),
  RATE_LIMIT_LOGIN_PER_ACCOUNT: int(1, 100_000, 10),
  RATE_LIMIT_SIGNUP_PER_IP: int(1, 100_000, 10),
  RATE_LIMIT_ROBOT_TOKEN_PER_IP: int(1, 100_000, 60),
  RATE_LIMIT_PER_USER: int(1, 1_000_000, 1200),
  RATE_LIMIT_WINDOW_SECONDS: int(1, 3600, 60),
  // Redis round trip budget of a rate-limit check; past it the request proceeds unlimited (fail open).
  RATE_LIMIT_REDIS_TIMEOUT_MS: int(10, 5000, 250),
}).transform((config, ctx) => {
  if (config.NODE_ENV === "production" && !config.AUTH_KEY_SECRET) {
    ctx.addIssue({
      code: "custom",
      path: ["AUTH_KEY_SECRET"],
      message: "required in production (at least 32 characters): it encrypts the token signing keys",
    });
    return z.NEVER;
  }
  return { ...config, AUTH_KEY_SECRET: config.AUTH_KEY_SECRET ?? DEV_KEY_SECRET };
});
export type AuthConfig = z.infer<typeof AuthConfig>;

/** Parses the auth service's settings (documented in the root .env.example and the README). */
export function loadConfig(env: Record<string, string | undefined> = process.env): AuthConfig {
  return parseConfig(AuthConfig, env);
}
