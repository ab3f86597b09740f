import { BaseConfig, parseConfig } from "@perseus/kit";
import { z } from "zod";

const origins = z
  .string()
  .default("")
  .transform((value, ctx) => {
    const list: string[] = [];
    for (const item of value.split(",").map((part) => part.trim())) {
      if (!item) continue;
      try {
        list.push(new URL(item).origin);
      } catch {
        ctx.addIssue({ code: "custom", message: `not a URL: ${item}` });
      }
    }
    return list;
  });

const flag = z
  .enum(["true", "false", "1", "0"])
  .default("true")
  .transform((value) => value === "true" || value === "1");

export const ChatConfig = BaseConfig.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(7702),
  // Where the auth service publishes its JWKS (token verification keys).
  AUTH_JWKS_URL: z.url().default("http://127.0.0.1:7701/api/auth/.well-known/jwks.json"),
  // The issuer every access token must name.
  AUTH_ISSUER: z.string().default("perseus"),
  // Extra browser origins (comma-separated) allowed to open the realtime socket besides PUBLIC_ORIGIN.
  CHAT_ALLOWED_ORIGINS: origins,
  // Largest message body in bytes (UTF-8).
  CHAT_MAX_MESSAGE_BYTES: z.coerce.number().int().min(1_024).max(1_048_576).default(32_768),
  // Missed messages a realtime resume replays before telling the client to reload instead.
  CHAT_REPLAY_LIMIT: z.coerce.number().int().min(10).max(5_000).default(500),
  // Largest client frame on the realtime socket; bigger ones close it with 1009.
  CHAT_WS_MAX_PAYLOAD: z.coerce.number().int().min(1_024).max(1_048_576).default(16_384),
  // Bytes queued for one socket above which it is a slow consumer: closed (4008) when it stays
  // above for CHAT_WS_SLOW_GRACE_MS, or at once beyond four times this much.
  CHAT_WS_MAX_BUFFERED_BYTES: z.coerce.number().int().min(16_384).default(4_194_304),
  CHAT_WS_SLOW_GRACE_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
  // Client frames per second a socket may send; above it frames get an error, far above it the socket closes.
  CHAT_WS_FRAMES_PER_SECOND: z.coerce.number().int().min(1).max(10_000).default(50),
  // Subscriptions one socket may hold.
  CHAT_WS_MAX_SUBSCRIPTIONS: z.coerce.number().int().min(1).max(10_000).default(200),
  // Server ping interval; a socket that has not answered the previous ping is terminated.
  CHAT_WS_PING_INTERVAL_MS: z.coerce.number().int().min(100).max(300_000).default(25_000),
  // Longest blocking read on the event streams; also how soon a lost stream tail is noticed when idle.
  CHAT_STREAM_BLOCK_MS: z.coerce.number().int().min(50).max(60_000).default(5_000),
  // Lifetime of a realtime ticket.
  CHAT_TICKET_TTL_SECONDS: z.coerce.number().int().min(1).max(300).default(30),
  // Run the outbox relay in this process (any number of replicas may: one publishes at a time).
  CHAT_OUTBOX_RELAY: flag,
});
export type ChatConfig = z.infer<typeof ChatConfig>;

/** Parses the chat service's settings (documented in apps/chat/README.md and the root .env.example). */
export function loadConfig(env: Record<string, string | undefined> = process.env): ChatConfig {
  return parseConfig(ChatConfig, env);
}
