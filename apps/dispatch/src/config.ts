import { BaseConfig, parseConfig } from "@perseus/kit";
import { z } from "zod";

const ms = (fallback: number, min = 1) => z.coerce.number().int().min(min).default(fallback);
const flag = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0"])
    .default(fallback ? "true" : "false")
    .transform((value) => value === "true" || value === "1");

export const DispatchConfig = BaseConfig.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(7703),
  // Where the auth service publishes its JWKS (token verification keys).
  AUTH_JWKS_URL: z.url().default("http://127.0.0.1:7701/api/auth/.well-known/jwks.json"),
  // The issuer every access token must name.
  AUTH_ISSUER: z.string().default("perseus"),

  // ---- leases and offers (robot policy, announced in `welcome`) ----
  // How long a lease lives without a heartbeat (checked by the database clock).
  LEASE_TTL_MS: ms(30_000, 100),
  // How often robots must send a heartbeat; a connection silent for 3 intervals gets no offers.
  HEARTBEAT_INTERVAL_MS: ms(10_000, 20),
  // How long an offer waits for accept before it goes back to the queue.
  OFFER_TTL_MS: ms(15_000, 50),
  // Largest robot frame accepted (bytes); bigger ones close the socket with 1009.
  MAX_FRAME_BYTES: ms(512 * 1024, 1024),
  // Frames per second per connection (burst of the same size); more closes with 4008.
  MAX_FRAMES_PER_SECOND: ms(50),
  // A robot must send hello within this time after connecting, or it is closed with 4003.
  HELLO_TIMEOUT_MS: ms(5_000, 50),
  // Connections one robot may hold at once; one more replaces the oldest (4009).
  ROBOT_MAX_CONNECTIONS: ms(4),
  // Chat messages sent with an offer as context (before and including the invoking one).
  OFFER_HISTORY_LIMIT: z.coerce.number().int().min(0).max(200).default(20),
  // A long-poll session with no request for this long is closed like a dropped socket.
  POLL_SESSION_IDLE_MS: ms(60_000, 100),

  // ---- live terminals ----
  // A terminal session without input or output for this long is closed (reason `idle`).
  TERMINAL_IDLE_MS: ms(15 * 60_000, 50),
  // Recent output kept per session in Redis (what a re-attaching browser sees first).
  TERMINAL_BUFFER_BYTES: ms(256 * 1024, 16_384),
  // Flow control: output a robot may have sent and not yet had acknowledged; it pauses its pty beyond.
  TERMINAL_WINDOW_BYTES: ms(256 * 1024, 16_384),
  // A browser whose socket holds more unsent output than this skips output (and is told so).
  TERMINAL_VIEWER_BUFFER_BYTES: ms(1024 * 1024, 16_384),
  // A session whose pty has not started by then is closed (reason `open_failed`).
  TERMINAL_OPEN_TIMEOUT_MS: ms(15_000, 100),
  // How often each replica looks for sessions whose robot connection is gone (a replica that
  // died could not close them); those end with reason `host_lost`.
  TERMINAL_SWEEP_MS: ms(15_000, 50),
  // The tail of a recorded session's output written into the chatgroup's workspace at close.
  TERMINAL_RECORD_BYTES: ms(1024 * 1024, 16_384),
  // How long an attach ticket is valid (seconds).
  TERMINAL_TICKET_TTL_S: z.coerce.number().int().min(1).max(300).default(30),

  // ---- attempts and retries ----
  // Leases a task may use before it becomes a dead letter.
  TASK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(3),
  // Backoff before attempt n+1 is RETRY_BASE_MS * 2^(n-1), capped at RETRY_MAX_MS.
  RETRY_BASE_MS: ms(2_000, 0),
  RETRY_MAX_MS: ms(300_000, 0),
  // A rejected offer is not offered again before this delay.
  REJECT_DELAY_MS: ms(5_000, 0),

  // ---- background work ----
  // Run the outbox relay, the message consumer, the queue workers and the wake listener.
  DISPATCH_BACKGROUND: flag(true),
  // Repeatable job that ends expired offers and leases (across tenants).
  SWEEP_INTERVAL_MS: ms(1_000, 50),
  // Repeatable job that wakes robots with due work Redis may have lost.
  RECONCILE_INTERVAL_MS: ms(10_000, 50),
  // Each replica also checks its own connected robots for work this often (works without Redis).
  LOCAL_POLL_MS: ms(2_000, 20),
  // How long an unacknowledged chat event stays with a dead consumer before another takes it.
  CONSUMER_CLAIM_IDLE_MS: ms(30_000, 100),
});
export type DispatchConfig = z.infer<typeof DispatchConfig>;

/** Parses the dispatch service's settings (documented in the root .env.example). */
export function loadConfig(env: Record<string, string | undefined> = process.env): DispatchConfig {
  return parseConfig(DispatchConfig, env);
}
