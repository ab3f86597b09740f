import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  createTestDatabase,
  createTestRedis,
  getFreePort,
  type ManagedProcess,
  startProcess,
  type TestDatabase,
  type TestRedis,
} from "@perseus/testing";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

type ServiceName = "auth" | "chat" | "dispatch" | "workspace";

export type PlatformOptions = {
  /**
   * A Redis of the caller's own (e.g. a private redis-server, or a fault proxy in front of
   * one) instead of a key prefix on the shared test Redis. Nothing is deleted from it on stop.
   */
  redisUrl?: string;
  /** Rewrites the database URL the services get (e.g. to go through a fault proxy). */
  serviceDatabaseUrl?: (url: string) => string;
  /** Extra environment for every service and the edge. */
  env?: Record<string, string>;
  /** Extra environment for one service (applied after `env`). */
  serviceEnv?: Partial<Record<ServiceName | "edge", Record<string, string>>>;
  /** Extra environment for every nanobot started with `startNanobot`. */
  nanobotEnv?: Record<string, string>;
};

export type Platform = {
  edgeUrl: string;
  db: TestDatabase;
  redis: Pick<TestRedis, "url" | "prefix" | "cleanup">;
  services: Record<ServiceName | "edge", ManagedProcess>;
  /** Nanobot processes by name. */
  robots: Record<string, ManagedProcess>;
  startNanobot: (credential: string, name?: string) => Promise<ManagedProcess>;
  /** Stops every process; `keepDatabase` leaves the database for a check afterwards (then call `db.drop()`). */
  stop: (options?: { keepDatabase?: boolean }) => Promise<void>;
};

/**
 * The platform as real processes from the built dist/ folders: auth, chat, dispatch,
 * workspace and the edge in front of them (which also serves the built console), on free
 * ports, with a private database and Redis prefix.
 * Short lease and sweep intervals keep the crash tests quick.
 */
export async function startPlatform(options: PlatformOptions = {}): Promise<Platform> {
  const db = await createTestDatabase();
  const redis = options.redisUrl ? ownRedis(options.redisUrl) : await createTestRedis();
  const dataDir = mkdtempSync(join(tmpdir(), "perseus-e2e-"));
  const [authPort, chatPort, dispatchPort, workspacePort, edgePort] = await Promise.all([
    getFreePort(),
    getFreePort(),
    getFreePort(),
    getFreePort(),
    getFreePort(),
  ]);
  const edgeUrl = `http://127.0.0.1:${edgePort}`;
  const common = {
    NODE_ENV: "test",
    LOG_LEVEL: "warn",
    HOST: "127.0.0.1",
    DATABASE_URL: options.serviceDatabaseUrl ? options.serviceDatabaseUrl(db.url) : db.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: redis.prefix,
    PUBLIC_ORIGIN: edgeUrl,
    AUTH_ISSUER: "perseus",
    AUTH_JWKS_URL: `http://127.0.0.1:${authPort}/api/auth/.well-known/jwks.json`,
    ...options.env,
  };
  const service = (name: ServiceName, port: number, env: Record<string, string> = {}) =>
    startProcess({
      name,
      command: process.execPath,
      args: [join(root, "apps", name, "dist", "server.js")],
      cwd: join(root, "apps", name),
      env: {
        ...common,
        PORT: String(port),
        INSTANCE_ID: `${name}-e2e`,
        ...env,
        ...options.serviceEnv?.[name],
      },
      ready: { url: `http://127.0.0.1:${port}/readyz` },
      readyTimeoutMs: 60_000,
    });
  const auth = await service("auth", authPort);
  const [chat, dispatch, workspace] = await Promise.all([
    service("chat", chatPort),
    service("dispatch", dispatchPort, {
      LEASE_TTL_MS: "3000",
      HEARTBEAT_INTERVAL_MS: "500",
      OFFER_TTL_MS: "3000",
      SWEEP_INTERVAL_MS: "250",
      RECONCILE_INTERVAL_MS: "1000",
      LOCAL_POLL_MS: "250",
      RETRY_BASE_MS: "100",
    }),
    service("workspace", workspacePort, { WORKSPACE_STORAGE_DIR: join(dataDir, "workspace") }),
  ]);
  const edge = await startProcess({
    name: "edge",
    command: process.execPath,
    args: [join(root, "apps", "edge", "dist", "server.js")],
    cwd: join(root, "apps", "edge"),
    env: {
      ...common,
      PORT: String(edgePort),
      EDGE_UPSTREAM_AUTH: `http://127.0.0.1:${authPort}`,
      EDGE_UPSTREAM_CHAT: `http://127.0.0.1:${chatPort}`,
      EDGE_UPSTREAM_DISPATCH: `http://127.0.0.1:${dispatchPort}`,
      EDGE_UPSTREAM_WORKSPACE: `http://127.0.0.1:${workspacePort}`,
      EDGE_HEALTH_INTERVAL_MS: "200",
      // A loaded CI machine may answer /readyz slowly; slow is not down.
      EDGE_HEALTH_TIMEOUT_MS: "5000",
      ...options.serviceEnv?.edge,
    },
    ready: { url: `${edgeUrl}/healthz` },
    readyTimeoutMs: 60_000,
  });

  const robots: Record<string, ManagedProcess> = {};
  return {
    edgeUrl,
    db,
    redis,
    services: { auth, chat, dispatch, workspace, edge },
    robots,
    startNanobot: async (credential, name = "nanobot") => {
      const robot = await startProcess({
        name,
        command: process.execPath,
        args: [
          join(root, "apps", "nanobot", "dist", "cli.js"),
          "connect",
          "--url",
          edgeUrl,
          "--credential",
          credential,
          "--data-dir",
          join(dataDir, name),
        ],
        cwd: join(root, "apps", "nanobot"),
        env: { ...options.nanobotEnv },
        ready: { line: /connected/i },
        readyTimeoutMs: 60_000,
      });
      robots[name] = robot;
      return robot;
    },
    stop: async ({ keepDatabase = false } = {}) => {
      for (const p of [...Object.values(robots), edge, workspace, dispatch, chat, auth])
        await p.stop().catch(() => {});
      await redis.cleanup();
      if (!keepDatabase) await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A caller-provided Redis: a private key prefix, and no keys to clean (the caller owns the server). */
function ownRedis(url: string): Platform["redis"] {
  return { url, prefix: `pt${randomBytes(5).toString("hex")}`, cleanup: async () => {} };
}
