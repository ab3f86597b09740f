// Postgres and Redis for the launcher: reachability checks, and private instances (data
// under .perseus/) when a server is installed but not running.
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chown, mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import net from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { ROOT } from "./paths.mjs";

const run = promisify(execFile);
// pg is a dependency of packages/db; the launcher borrows it rather than having its own.
const pg = createRequire(join(ROOT, "packages/db/package.json"))("pg");

export const INSTALL_HINT = "apt-get install -y postgresql redis-server";

export function isLoopback(host) {
  return ["127.0.0.1", "localhost", "::1", "[::1]"].includes(host);
}

/** Connects to the maintenance database of the server `url` names; resolves with an error or null. */
export async function checkPostgres(url) {
  const target = new URL(url);
  target.pathname = "/postgres";
  const client = new pg.Client({ connectionString: target.toString(), connectionTimeoutMillis: 3_000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("select 1");
    return null;
  } catch (error) {
    return error;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Whether an error means "nobody listens there" (as opposed to a refused login). */
export function isUnreachable(error) {
  const code = error?.code ?? error?.errors?.[0]?.code;
  return (
    ["ECONNREFUSED", "ENOENT", "ETIMEDOUT", "EHOSTUNREACH"].includes(code) ||
    /timeout/i.test(error?.message ?? "")
  );
}

/** Sends PING (after AUTH when the URL has a password); resolves with an error or null. */
export function checkRedis(url) {
  const target = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: target.hostname, port: Number(target.port || 6379) });
    let answer = "";
    const done = (error) => {
      socket.destroy();
      resolve(error);
    };
    socket.setTimeout(3_000, () =>
      done(Object.assign(new Error("Redis did not answer"), { code: "ETIMEDOUT" })),
    );
    socket.on("error", done);
    socket.on("connect", () => {
      const auth = target.password
        ? `AUTH ${decodeURIComponent(target.username || "default")} ${decodeURIComponent(target.password)}\r\n`
        : "";
      socket.write(`${auth}PING\r\n`);
    });
    socket.on("data", (chunk) => {
      answer += chunk.toString();
      if (answer.includes("+PONG")) done(null);
      else if (answer.startsWith("-")) done(new Error(`Redis answered ${answer.trim()}`));
    });
  });
}

/** The directory holding initdb/pg_ctl (Debian keeps them out of PATH), or null. */
export function findPostgresBin() {
  const base = "/usr/lib/postgresql";
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => existsSync(join(base, v, "bin", "pg_ctl")))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(base, versions[0], "bin");
  }
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(join(dir, "pg_ctl")) && existsSync(join(dir, "initdb"))) return dir;
  }
  return null;
}

export function findRedisServer() {
  for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/bin", "/usr/local/bin"]) {
    if (dir && existsSync(join(dir, "redis-server"))) return join(dir, "redis-server");
  }
  return null;
}

const isRoot = () => process.getuid?.() === 0;

/** Runs a Postgres tool; as root through `runuser -u postgres` (Postgres refuses to run as root). */
async function runPostgresTool(bin, tool, args) {
  const command = isRoot() ? "runuser" : join(bin, tool);
  const argv = isRoot() ? ["-u", "postgres", "--", join(bin, tool), ...args] : args;
  return run(command, argv, { timeout: 120_000 });
}

/**
 * Starts a private Postgres on `port` with its data in `dataDir` (initialised on first use,
 * trust authentication on 127.0.0.1 only). Returns a function that stops it.
 */
export async function startPrivatePostgres({ bin, dataDir, port, log }) {
  const pgData = join(dataDir, "postgres");
  await mkdir(pgData, { recursive: true, mode: 0o700 });
  if (isRoot()) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    await chown(pgData, Number(stdout.trim()), Number(gid.trim()));
  }
  if (!existsSync(join(pgData, "PG_VERSION"))) {
    log(`initialising a private Postgres in ${pgData}`);
    await runPostgresTool(bin, "initdb", [
      "-D",
      pgData,
      "-U",
      "postgres",
      "--auth=trust",
      "--encoding=UTF8",
      "--no-instructions",
    ]);
  }
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp`;
  log(`starting the private Postgres on 127.0.0.1:${port}`);
  await runPostgresTool(bin, "pg_ctl", [
    "-D",
    pgData,
    "-l",
    // Inside the data dir: the postgres user cannot write next to it when we run as root.
    join(pgData, "server.log"),
    "-o",
    options,
    "-w",
    "-t",
    "60",
    "start",
  ]);
  return async () => {
    await runPostgresTool(bin, "pg_ctl", ["-D", pgData, "-m", "fast", "-w", "-t", "30", "stop"]).catch(
      () => {},
    );
  };
}

/**
 * Starts a private redis-server on `port` with its data in `dataDir`: AOF persistence and
 * `noeviction` (BullMQ must never lose keys to eviction). Returns the child process.
 */
export async function startPrivateRedis({ binary, dataDir, port, log }) {
  const dir = join(dataDir, "redis");
  await mkdir(dir, { recursive: true });
  log(`starting a private Redis on 127.0.0.1:${port} (data in ${dir})`);
  const child = spawn(
    binary,
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--appendonly",
      "yes",
      "--appendfsync",
      "everysec",
      "--maxmemory-policy",
      "noeviction",
      "--save",
      "",
      "--daemonize",
      "no",
      "--logfile",
      join(dataDir, "redis.log"),
    ],
    { stdio: "ignore", detached: true },
  );
  const url = `redis://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 100; attempt++) {
    if (child.exitCode !== null)
      throw new Error(`redis-server exited with ${child.exitCode}; see ${join(dataDir, "redis.log")}`);
    if (!(await checkRedis(url))) return child;
    await sleep(100);
  }
  child.kill("SIGKILL");
  throw new Error("the private Redis did not answer within 10 s");
}
