import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { chown, mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import pg from "pg";
import { type ManagedProcess, onExitCleanup, startProcess } from "./process.js";

const run = promisify(execFile);
const TEMP_PREFIX = "perseus-srv-";
let swept = false;

/**
 * A temp dir removed by `remove()`, or at the latest when the test process exits. Dirs left by
 * a worker that was SIGKILLed (no hook runs) are swept once they are a day old.
 */
async function makeTempDir(kind: string) {
  if (!swept) {
    swept = true;
    const dayAgo = Date.now() - 24 * 3600_000;
    for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
      if (!name.startsWith(TEMP_PREFIX)) continue;
      const path = join(tmpdir(), name);
      const modified = (await stat(path).catch(() => null))?.mtimeMs ?? Number.POSITIVE_INFINITY;
      if (modified < dayAgo) {
        await rm(path, { recursive: true, force: true }).catch(() => {});
      }
    }
  }
  const path = await mkdtemp(join(tmpdir(), `${TEMP_PREFIX}${kind}-`));
  const unregister = onExitCleanup(() => rmSync(path, { recursive: true, force: true, maxRetries: 3 }));
  return {
    path,
    remove: async () => {
      unregister();
      await rm(path, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

/**
 * A port that was free a moment ago. Another process may take it before the server binds,
 * so the starters below retry on "address in use".
 */
export async function getFreePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function withPortRetry<T>(start: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await getFreePort());
    } catch (error) {
      if (attempt >= 3 || !/address already in use|EADDRINUSE/i.test(String(error))) throw error;
    }
  }
}

export type PrivateRedis = {
  url: string;
  port: number;
  dir: string;
  readonly pid: number;
  process: ManagedProcess;
  /** SIGKILL, waits until gone. The data dir stays: restart() finds what was persisted. */
  kill(): Promise<void>;
  /** Starts again on the same port and dir (stops it first if running). */
  restart(): Promise<void>;
  pause(): void;
  resume(): void;
  /** For good: stops the server and removes its data dir. */
  stop(): Promise<void>;
};

/**
 * A throwaway redis-server on a random port with its data in a temp dir: faults on it
 * never disturb the shared server on 6379. `appendonly` decides whether a SIGKILL loses data.
 */
export async function startRedisServer(
  options: {
    appendonly?: boolean;
    /** AOF fsync policy (redis's own default is everysec, which is what compose and k8s run). */
    appendfsync?: "always" | "everysec" | "no";
    maxmemoryPolicy?: string;
  } = {},
): Promise<PrivateRedis> {
  const temp = await makeTempDir("redis");
  const dir = temp.path;
  try {
    const { port, proc } = await withPortRetry(async (port) => ({
      port,
      proc: await startProcess({
        name: `redis-${port}`,
        command: "/usr/bin/redis-server",
        // biome-ignore format: flag and value pairs read best side by side
        args: [
          "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--daemonize", "no",
          "--appendonly", options.appendonly ? "yes" : "no", "--dir", dir, "--logfile", "",
          "--maxmemory-policy", options.maxmemoryPolicy ?? "noeviction",
          ...(options.appendfsync ? ["--appendfsync", options.appendfsync] : []),
        ],
        cwd: dir,
        ready: { line: /Ready to accept connections/ },
        readyTimeoutMs: 10_000,
      }),
    }));
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      dir,
      get pid() {
        return proc.pid;
      },
      process: proc,
      kill: async () => void (await proc.kill("SIGKILL")),
      restart: () => proc.restart(),
      pause: () => proc.pause(),
      resume: () => proc.resume(),
      stop: async () => {
        await proc.stop();
        await temp.remove();
      },
    };
  } catch (error) {
    await temp.remove();
    throw error;
  }
}

export type PrivatePostgres = {
  /** Superuser `postgres`, database `postgres`, trust auth. */
  adminUrl: string;
  port: number;
  dataDir: string;
  readonly pid: number;
  readonly running: boolean;
  process: ManagedProcess;
  /** fast: roll back and disconnect sessions, checkpoint. immediate: no checkpoint, crash recovery on start. */
  stop(options?: { mode?: "fast" | "immediate" }): Promise<void>;
  /** SIGKILL of the postmaster (a crash): its backends exit once they notice. */
  kill(): Promise<void>;
  /** Starts again on the same port and data dir; resolves once it accepts connections. */
  start(): Promise<void>;
  /** pg_terminate_backend on client sessions other than our own; returns how many were ended. */
  killBackends(filter?: { user?: string; application?: string }): Promise<number>;
  /** Immediate stop and removal of every file. */
  destroy(): Promise<void>;
};

async function postgresBinDir(): Promise<string> {
  const fromConfig = await run("pg_config", ["--bindir"]).then(
    (r) => r.stdout.trim(),
    () => "",
  );
  if (fromConfig) return fromConfig;
  const versions = (await readdir("/usr/lib/postgresql")).sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error("no PostgreSQL installation found under /usr/lib/postgresql");
  return join("/usr/lib/postgresql", versions[0], "bin");
}

/** Postgres refuses to run as root: when we are root, initdb and the server run as `postgres`. */
async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const [uid, gid] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]);
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

/**
 * A throwaway PostgreSQL cluster (initdb in a temp dir, random port, fsync off) whose
 * postmaster is our direct child, so it can be stopped, killed and restarted at will.
 */
export async function startPostgresServer(
  options: { sharedBuffers?: string } = {},
): Promise<PrivatePostgres> {
  const [binDir, user] = await Promise.all([postgresBinDir(), postgresUser()]);
  const temp = await makeTempDir("pg");
  const root = temp.path;
  const dataDir = join(root, "data");
  const socketDir = join(root, "sock");
  try {
    await mkdir(socketDir);
    if (user) {
      await chown(root, user.uid, user.gid);
      await chown(socketDir, user.uid, user.gid);
    }
    // As `postgres` through spawn's uid/gid, not runuser: runuser forks and stays the parent,
    // so the pid we hold (and kill, pause) would not be the postmaster's.
    const asPostgres = { uid: user?.uid, gid: user?.gid, cwd: root, timeout: 60_000 };
    // biome-ignore format: flag and value pairs read best side by side
    const initdbArgs = [
      "-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
    ];
    await run(join(binDir, "initdb"), initdbArgs, asPostgres).catch((error) => {
      throw new Error(`initdb failed: ${error.message}\n${error.stdout ?? ""}${error.stderr ?? ""}`);
    });
    const { port, proc } = await withPortRetry(async (port) => ({
      port,
      proc: await startProcess({
        name: `postgres-${port}`,
        command: join(binDir, "postgres"),
        // biome-ignore format: flag and value pairs read best side by side
        args: [
          "-D", dataDir, "-p", String(port), "-k", socketDir,
          "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
          "-c", `shared_buffers=${options.sharedBuffers ?? "32MB"}`, "-c", "max_connections=60",
          // synchronous_commit stays on: a commit we saw acknowledged must survive an immediate stop.
          "-c", "log_line_prefix=%m [%p] ", "-c", "lc_messages=C",
        ],
        cwd: root,
        env: { LC_ALL: "C" },
        uid: user?.uid,
        gid: user?.gid,
        ready: { line: /database system is ready to accept connections/ },
        readyTimeoutMs: 30_000,
      }),
    }));
    const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
    let destroyed = false;

    const stop: PrivatePostgres["stop"] = async ({ mode = "fast" } = {}) => {
      if (proc.exited) return;
      // The postmaster's shutdown modes are signals: SIGINT = fast, SIGQUIT = immediate.
      const status = await proc.kill(mode === "fast" ? "SIGINT" : "SIGQUIT").catch(() => null);
      if (!status) await proc.kill("SIGKILL");
    };

    return {
      adminUrl,
      port,
      dataDir,
      get pid() {
        return proc.pid;
      },
      get running() {
        return !proc.exited;
      },
      process: proc,
      stop,
      kill: async () => void (await proc.kill("SIGKILL")),
      start: async () => {
        if (destroyed) throw new Error("this Postgres server was destroyed");
        for (let attempt = 1; proc.exited; attempt++) {
          try {
            await proc.restart();
          } catch (error) {
            // After a SIGKILL, orphaned backends may hold the old shared memory a moment longer.
            const busy = /pre-existing shared memory block|lock file .* already exists/.test(String(error));
            if (!busy || attempt >= 5) throw error;
            await sleep(1_000);
          }
        }
      },
      killBackends: async (filter = {}) => {
        const client = new pg.Client({ connectionString: adminUrl, application_name: "perseus-killer" });
        client.on("error", () => {});
        await client.connect();
        try {
          const { rows } = await client.query<{ killed: number }>(
            `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))::int AS killed
               FROM pg_stat_activity
              WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
                AND ($1::text IS NULL OR usename = $1) AND ($2::text IS NULL OR application_name = $2)`,
            [filter.user ?? null, filter.application ?? null],
          );
          return rows[0]?.killed ?? 0;
        } finally {
          await client.end().catch(() => {});
        }
      },
      destroy: async () => {
        destroyed = true;
        await stop({ mode: "immediate" });
        await temp.remove();
      },
    };
  } catch (error) {
    await temp.remove();
    throw error;
  }
}
