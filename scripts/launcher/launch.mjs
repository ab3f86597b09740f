#!/usr/bin/env node
// `pnpm start`: runs the whole platform on this machine. Checks (or starts) Postgres and
// Redis, migrates, starts every service (with replicas on request) and the edge, waits
// until all are ready, seeds a demo tenant, and stops everything on Ctrl-C / SIGTERM.
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  checkPostgres,
  checkRedis,
  findPostgresBin,
  findRedisServer,
  INSTALL_HINT,
  isLoopback,
  isUnreachable,
  startPrivatePostgres,
  startPrivateRedis,
} from "./infra.mjs";
import { fail, paint, printLine, say, setNameWidth, table, warn } from "./output.mjs";
import { ROOT } from "./paths.mjs";
import { DEMO, SeedUnavailable, seedDemo } from "./seed.mjs";
import { createChild, runOnce, waitForReady } from "./supervisor.mjs";

/** The services in start order, with their port offset from the base port (the edge has +0). */
const SERVICES = [
  { name: "auth", offset: 1 },
  { name: "chat", offset: 2 },
  { name: "dispatch", offset: 3 },
  { name: "workspace", offset: 4 },
];
/** Replica r of a service listens on base + offset + 10·r (e.g. chat: 7702, 7712, 7722). */
const REPLICA_STRIDE = 10;

const HELP = `Usage: pnpm start [options]

Runs Perseus locally: Postgres and Redis checks, migrations, every service and the edge.

Options:
  --replicas <list>      replicas per service, e.g. chat=2,dispatch=2 (default 1 each)
  --base-port <port>     edge port; services use base+1..base+4 (default 7700, env PERSEUS_BASE_PORT)
  --database-url <url>   superuser URL of the Perseus database
                         (env DATABASE_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/perseus)
  --redis-url <url>      (env REDIS_URL, default redis://127.0.0.1:6379)
  --redis-prefix <name>  prefix of every Redis key (env REDIS_PREFIX, default perseus)
  --data-dir <dir>       private data: databases, files, demo credential (default .perseus)
  --no-seed              do not create the demo tenant
  --json-logs            print the services' JSON log lines as they are
  --ready-timeout <s>    how long to wait for readiness (default 90)
  -h, --help             this text`;

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv[0] === "--" ? argv.slice(1) : argv,
    options: {
      replicas: { type: "string", default: "" },
      "base-port": { type: "string", default: process.env.PERSEUS_BASE_PORT ?? "7700" },
      "database-url": {
        type: "string",
        default: process.env.DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/perseus",
      },
      "redis-url": { type: "string", default: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" },
      "redis-prefix": { type: "string", default: process.env.REDIS_PREFIX ?? "perseus" },
      "data-dir": { type: "string", default: join(ROOT, ".perseus") },
      "no-seed": { type: "boolean", default: false },
      "json-logs": { type: "boolean", default: false },
      "ready-timeout": { type: "string", default: "90" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  const replicas = Object.fromEntries(SERVICES.map((s) => [s.name, 1]));
  for (const part of values.replicas.split(",").filter(Boolean)) {
    const [name, count] = part.split("=");
    if (!(name in replicas) || !/^\d+$/.test(count ?? "") || Number(count) < 1 || Number(count) > 9) {
      throw new Error(
        `--replicas: '${part}' is not <service>=<1..9> (services: ${Object.keys(replicas).join(", ")})`,
      );
    }
    replicas[name] = Number(count);
  }
  const basePort = Number(values["base-port"]);
  if (!Number.isInteger(basePort) || basePort < 1 || basePort + 4 + REPLICA_STRIDE * 8 > 65535) {
    throw new Error(`--base-port: '${values["base-port"]}' is not a usable port`);
  }
  for (const key of ["database-url", "redis-url"]) {
    try {
      new URL(values[key]);
    } catch {
      throw new Error(`--${key}: '${values[key]}' is not a URL`);
    }
  }
  if (!/^[a-zA-Z0-9_-]+$/.test(values["redis-prefix"]))
    throw new Error("--redis-prefix: letters, digits, '_' and '-' only");
  return {
    help: values.help,
    replicas,
    basePort,
    adminUrl: values["database-url"],
    redisUrl: values["redis-url"],
    redisPrefix: values["redis-prefix"],
    dataDir: resolve(values["data-dir"]),
    seed: !values["no-seed"],
    rawLogs: values["json-logs"],
    readyTimeoutMs: Number(values["ready-timeout"]) * 1000,
  };
}

/** The app-role URL for the services: same server and database, role perseus_app. */
function appDatabaseUrl(adminUrl) {
  const url = new URL(adminUrl);
  url.username = "perseus_app";
  url.password = process.env.PERSEUS_DB_APP_PASSWORD ?? "";
  return url.toString();
}

function isPortFree(port) {
  return new Promise((resolvePort) => {
    const server = net.createServer();
    server.once("error", () => resolvePort(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolvePort(true)));
  });
}

/** Makes sure Postgres and Redis answer, starting private instances when possible. */
async function ensureInfrastructure(options, cleanups) {
  const pgError = await checkPostgres(options.adminUrl);
  if (pgError) {
    const target = new URL(options.adminUrl);
    if (!isUnreachable(pgError)) throw new Error(`Postgres at ${target.host} refused us: ${pgError.message}`);
    const bin = findPostgresBin();
    if (!isLoopback(target.hostname) || !bin) {
      throw new Error(
        `Postgres is not reachable at ${target.host}${bin ? "" : ` and is not installed.\nInstall it with:  ${INSTALL_HINT}`}`,
      );
    }
    const stop = await startPrivatePostgres({
      bin,
      dataDir: options.dataDir,
      port: Number(target.port || 5432),
      log: say,
    });
    cleanups.push(async () => {
      say("stopping the private Postgres");
      await stop();
    });
    const again = await checkPostgres(options.adminUrl);
    if (again) throw new Error(`the private Postgres does not answer: ${again.message}`);
  }
  const redisError = await checkRedis(options.redisUrl);
  if (redisError) {
    const target = new URL(options.redisUrl);
    const binary = findRedisServer();
    if (!isLoopback(target.hostname) || !binary || !isUnreachable(redisError)) {
      throw new Error(
        `Redis is not reachable at ${target.host} (${redisError.message})${binary ? "" : `.\nInstall it with:  ${INSTALL_HINT}`}`,
      );
    }
    const child = await startPrivateRedis({
      binary,
      dataDir: options.dataDir,
      port: Number(target.port || 6379),
      log: say,
    });
    cleanups.push(async () => {
      say("stopping the private Redis");
      child.kill("SIGTERM");
      await new Promise((done) => (child.exitCode === null ? child.once("exit", done) : done()));
    });
  }
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  if (options.help) {
    console.log(HELP);
    return 0;
  }
  const missing = [
    "packages/db/dist/cli.js",
    "apps/edge/dist/server.js",
    ...SERVICES.map((s) => `apps/${s.name}/dist/server.js`),
  ].filter((file) => !existsSync(join(ROOT, file)));
  if (missing.length)
    throw new Error(`not built: ${missing.join(", ")}. Run \`pnpm build\` first (or bash scripts/start.sh).`);

  const plan = SERVICES.flatMap((service) =>
    Array.from({ length: options.replicas[service.name] }, (_, replica) => ({
      service: service.name,
      name: `${service.name}-${replica + 1}`,
      port: options.basePort + service.offset + REPLICA_STRIDE * replica,
    })),
  );
  for (const port of [options.basePort, ...plan.map((p) => p.port)]) {
    if (!(await isPortFree(port))) {
      throw new Error(
        `port ${port} is already in use: is Perseus running already? (choose others with --base-port)`,
      );
    }
  }
  setNameWidth(Math.max(...plan.map((p) => p.name.length), "workspace-1".length));
  await mkdir(options.dataDir, { recursive: true });

  const cleanups = [];
  const children = [];
  // launcher.json: who runs where, rewritten when a child is restarted (tools and tests read it).
  const stateFile = join(options.dataDir, "launcher.json");
  let isStateWritten = false;
  const writeState = async () => {
    const state = {
      pid: process.pid,
      edgeUrl: `http://127.0.0.1:${options.basePort}`,
      children: children.map((c) => ({ name: c.name, pid: c.pid, port: c.port, restarts: c.restarts })),
    };
    await writeFile(stateFile, JSON.stringify(state, null, 2));
    isStateWritten = true;
  };
  const onStart = () => {
    if (isStateWritten && !isShuttingDown) void writeState().catch(() => {});
  };
  let isShuttingDown = false;
  const shutdown = async (reason) => {
    if (isShuttingDown) return;
    isShuttingDown = true;
    say(`${reason}: stopping`);
    // The edge first (no new traffic), then the services together, then the infrastructure.
    const edge = children.filter((c) => c.name.startsWith("edge"));
    await Promise.all(edge.map((c) => c.stop()));
    await Promise.all(children.filter((c) => !edge.includes(c)).map((c) => c.stop()));
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => warn(error.message));
    await rm(stateFile, { force: true });
    say("stopped");
  };
  let resolveStop;
  const stopped = new Promise((done) => {
    resolveStop = done;
  });
  // Output piped into something that exits first (`… | tee log` on Ctrl-C) must not take
  // the launcher down before it has stopped what it started: writes to a closed pipe are
  // dropped, and the shutdown goes on.
  for (const stream of [process.stdout, process.stderr])
    stream.on("error", (error) => {
      if (error.code !== "EPIPE") throw error;
    });
  // Last resort on any exit path (a crash included): no service outlives the launcher.
  process.on("exit", () => {
    for (const child of children) {
      if (!child.pid) continue;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(signal, () => {
      if (isShuttingDown) {
        // A second Ctrl-C: do not wait any longer.
        for (const child of children) if (child.pid) process.kill(child.pid, "SIGKILL");
        process.exit(130);
      }
      void shutdown(`received ${signal}`).then(() => resolveStop(0));
    });
  }

  try {
    await ensureInfrastructure(options, cleanups);
    if (isShuttingDown) return stopped;
    say(`migrating ${paint("bold", new URL(options.adminUrl).pathname.slice(1) || "perseus")}`);
    await runMigrations(options);

    const databaseUrl = appDatabaseUrl(options.adminUrl);
    const edgeUrl = `http://127.0.0.1:${options.basePort}`;
    const authPort = options.basePort + 1;
    const shared = {
      ...process.env,
      NODE_ENV: process.env.NODE_ENV ?? "development",
      LOG_LEVEL: process.env.LOG_LEVEL ?? "info",
      HOST: "127.0.0.1",
      DATABASE_URL: databaseUrl,
      REDIS_URL: options.redisUrl,
      REDIS_PREFIX: options.redisPrefix,
      PUBLIC_ORIGIN: process.env.PUBLIC_ORIGIN ?? edgeUrl,
      // Straight to the first auth replica: the edge starts only once every service is ready.
      AUTH_JWKS_URL: `http://127.0.0.1:${authPort}/api/auth/.well-known/jwks.json`,
      // The local console is served over plain http, where Secure cookies would be dropped.
      AUTH_COOKIE_SECURE: process.env.AUTH_COOKIE_SECURE ?? "false",
      WORKSPACE_STORAGE_DIR: process.env.WORKSPACE_STORAGE_DIR ?? join(options.dataDir, "workspace"),
    };
    for (const item of plan) {
      const child = createChild({
        name: item.name,
        script: join(ROOT, "apps", item.service, "dist/server.js"),
        env: { ...shared, PORT: String(item.port), INSTANCE_ID: item.name },
        port: item.port,
        rawLogs: options.rawLogs,
        onStart,
      });
      children.push(child);
      child.start();
    }
    say(`starting ${plan.map((p) => p.name).join(", ")}`);
    const readiness = await Promise.all(
      plan.map((item, index) =>
        waitForReady(`http://127.0.0.1:${item.port}/readyz`, {
          timeoutMs: options.readyTimeoutMs,
          isAlive: () => children[index].isRunning || children[index].restarts < 3,
          label: item.name,
        }),
      ),
    );

    const upstreams = Object.fromEntries(
      SERVICES.map((service) => [
        `EDGE_UPSTREAM_${service.name.toUpperCase()}`,
        plan
          .filter((p) => p.service === service.name)
          .map((p) => `http://127.0.0.1:${p.port}`)
          .join(","),
      ]),
    );
    const edge = createChild({
      name: "edge",
      script: join(ROOT, "apps/edge/dist/server.js"),
      env: { ...shared, ...upstreams, PORT: String(options.basePort), INSTANCE_ID: "edge-1" },
      port: options.basePort,
      rawLogs: options.rawLogs,
      onStart,
    });
    children.push(edge);
    edge.start();
    const edgeReady = await waitForReady(`${edgeUrl}/readyz`, {
      timeoutMs: options.readyTimeoutMs,
      isAlive: () => edge.isRunning || edge.restarts < 3,
      label: "edge",
    });
    if (isShuttingDown) return stopped;

    const rows = [...plan, { name: "edge", port: options.basePort }].map((item, index) => {
      const info = index < plan.length ? readiness[index] : edgeReady;
      const child = children[index];
      return [
        item.name,
        String(item.port),
        String(child.pid ?? "-"),
        info.status ?? "ready",
        info.version ?? "-",
      ];
    });
    await writeState();
    say("");
    for (const line of table(["instance", "port", "pid", "status", "version"], rows)) say(line);
    say("");

    if (options.seed) await seed(edgeUrl, options.dataDir);
    say(
      `${paint("bold", "Perseus is ready:")} ${paint("underline", `${edgeUrl}/`)}   (Ctrl-C stops everything)`,
    );
    printLine("perseus", paint("green", "ready"));
  } catch (error) {
    if (!isShuttingDown) {
      fail(error.message);
      await shutdown("start-up failed");
      return 1;
    }
  }
  return stopped;
}

/** Runs the migrate command (roles, database, schema, RLS); a failure aborts the start. */
async function runMigrations(options) {
  const code = await runOnce({
    name: "migrate",
    script: join(ROOT, "packages/db/dist/cli.js"),
    env: { ...process.env, DATABASE_ADMIN_URL: options.adminUrl },
    rawLogs: options.rawLogs,
  });
  if (code !== 0) throw new Error(`migrations failed (exit code ${code})`);
}

async function seed(edgeUrl, dataDir) {
  try {
    const { session, robot, secret } = await seedDemo({ edgeUrl, dataDir });
    say(`${paint("bold", "Demo tenant")} ${session.tenant.name}: sign in at ${edgeUrl}/sign-in`);
    say(`  email ${paint("bold", DEMO.email)}   password ${paint("bold", DEMO.password)}`);
    say(`${paint("bold", "Demo robot")} @${robot.handle}: connect it from any machine with`);
    say(
      `  PERSEUS_URL=${edgeUrl} PERSEUS_ROBOT_CREDENTIAL=${secret} node apps/nanobot/bin/perseus-nanobot.js connect`,
    );
  } catch (error) {
    if (error instanceof SeedUnavailable) warn(`demo seed skipped: ${error.message}`);
    else warn(`demo seed failed: ${error.message}`);
  }
}

// Exit explicitly once stopped: idle keep-alive sockets must not hold the launcher open.
main().then(
  (code) => process.exit(code),
  (error) => {
    fail(error.message);
    process.exit(1);
  },
);
