#!/usr/bin/env node
import { hostname } from "node:os";
import { shutdownTracing, startTracing } from "@perseus/tracing";
import { Command, Option } from "commander";
import {
  type ApproverConfig,
  ConfigError,
  type ConnectFlags,
  type ConnectOptions,
  readHostEnv,
  resolveConnectOptions,
} from "./config.js";
import {
  type Approver,
  createCommandApprover,
  createTtyApprover,
  denyApprover,
} from "./executors/approvals.js";
import { buildChildEnv } from "./executors/common.js";
import { splitTemplate } from "./executors/template.js";
import { createLogger, type Logger } from "./log.js";
import { ExecutorType } from "./settings.js";
import { version } from "./version.js";

const env = readHostEnv();

/** Exit codes: 1 failure, 2 credential refused, 3 protocol version, 4 replaced by another connection, 64 usage/config. */
const EXIT_USAGE = 64;

function connectionOptions(command: Command) {
  return command
    .option("--url <url>", "platform URL (env PERSEUS_URL)")
    .option("--credential <prc>", "robot credential prc_… (env PERSEUS_ROBOT_CREDENTIAL)")
    .option(
      "--config <path>",
      "config file (default ~/.config/perseus-nanobot/config.json; env PERSEUS_NANOBOT_CONFIG)",
    )
    .addOption(
      new Option("--transport <kind>", "ws, poll, or auto (WebSocket, falling back to long-poll)").choices([
        "ws",
        "poll",
        "auto",
      ]),
    )
    .option("--data-dir <dir>", "outbox, lock and sandboxes (default ~/.local/state/perseus-nanobot)")
    .option("--sandbox-dir <dir>", "where per-task sandboxes are created (default <data-dir>/sandboxes)")
    .addOption(
      new Option("--log-level <level>", "log level").choices(["debug", "info", "warn", "error", "silent"]),
    );
}

function createApprover(config: ApproverConfig, log: Logger): Approver | null {
  switch (config.type) {
    case "deny":
    case "platform": // without a platform connection (run-once) nobody can answer
      return denyApprover;
    case "tty":
      if (!process.stdin.isTTY) {
        log.warn("approver 'tty' needs a terminal; no terminal here, so approvals are denied");
        return denyApprover;
      }
      return createTtyApprover(config.timeoutMs);
    case "command": {
      const argv = Array.isArray(config.command) ? config.command : splitTemplate(config.command);
      return createCommandApprover(argv, buildChildEnv(env, { env: {}, passEnv: [] }, {}), config.timeoutMs);
    }
  }
}

async function resolveOrExit(flags: ConnectFlags, requireCredential: boolean): Promise<ConnectOptions> {
  try {
    return await resolveConnectOptions(flags, env, {
      requireCredential,
      warn: (m) => process.stderr.write(`warning: ${m}\n`),
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`perseus-nanobot: ${error.message}\n`);
      process.exit(EXIT_USAGE);
    }
    throw error;
  }
}

async function connect(flags: ConnectFlags) {
  const options = await resolveOrExit(flags, true);
  // Loaded per command: the CLI starts faster when it does not parse what it will not run.
  const { createCredentialTokenSource, createStaticTokenSource } = await import("./client/credential.js");
  const { FatalClientError, RobotClient } = await import("./client/robot-client.js");
  const log = createLogger(options.logLevel);
  const isTracing = await startTracing({
    serviceName: "perseus-nanobot",
    serviceVersion: version,
    instanceId: `nanobot-${hostname()}-${process.pid}`,
    ...options.tracing,
  });
  if (isTracing) log.info("tracing task runs over OTLP");
  const tokens = options.credential
    ? createCredentialTokenSource({ platformUrl: options.url, credential: options.credential })
    : createStaticTokenSource(options.token!);
  const client = new RobotClient({
    platformUrl: options.url,
    tokens,
    transport: options.transport,
    concurrency: options.concurrency,
    dataDir: options.dataDir,
    sandboxRoot: options.sandboxDir,
    localSettings: options.file,
    hostEnv: env,
    approver: options.approver.type === "platform" ? "platform" : createApprover(options.approver, log),
    approvalTimeoutMs: options.approver.type === "platform" ? options.approver.timeoutMs : undefined,
    log,
    agent: { name: "perseus-nanobot", version },
    shutdownGraceMs: options.shutdownGraceMs,
    crashAt: options.crashAt,
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    log.info(
      signals === 1 ? `${signal}: stopping gracefully (again to stop at once)` : `${signal}: stopping now`,
    );
    void client.stop({ immediate: signals > 1 });
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  log.info("perseus-nanobot starting", {
    version,
    url: options.url,
    transport: options.transport,
    dataDir: options.dataDir,
  });
  try {
    await client.run();
    log.info("stopped");
    await shutdownTracing().catch(() => {});
    process.exit(0);
  } catch (error) {
    await shutdownTracing().catch(() => {});
    if (error instanceof FatalClientError) {
      log.error(error.message);
      process.exit(error.exitCode);
    }
    log.error("crashed", { error: (error as Error).message });
    process.exit(1);
  }
}

const program = new Command()
  .name("perseus-nanobot")
  .description(
    "Puts this machine into Perseus as a robot: runs the tasks it is offered with a shell, an agent CLI or a built-in agent.",
  )
  .version(version);

connectionOptions(program.command("connect").description("connect to the platform and work on offered tasks"))
  .option("--concurrency <n>", "tasks at once (capped by the platform's policy)")
  .addOption(
    new Option(
      "--approver <kind>",
      "who approves dangerous commands: platform (default: an owner or admin in the console), tty or deny",
    ).choices(["platform", "deny", "tty"]),
  )
  .option(
    "--grace-ms <ms>",
    "on SIGINT/SIGTERM, how long running tasks may finish before their leases are released",
  )
  .addOption(
    new Option("--token <jwt>", "a robot access token instead of a credential (advanced)").hideHelp(),
  )
  .action((flags: ConnectFlags) => connect(flags));

connectionOptions(
  program
    .command("doctor")
    .description("check URL, credential, WebSocket, sandbox and executor; exits non-zero on a failing check"),
)
  .addOption(new Option("--token <jwt>").hideHelp())
  .action(async (flags: ConnectFlags) => {
    const options = await resolveOrExit(flags, false);
    const { formatChecks, runDoctor } = await import("./doctor.js");
    const results = await runDoctor(options);
    process.stdout.write(formatChecks(results));
    const failed = results.filter((r) => r.status === "fail");
    if (failed.length)
      process.stderr.write(`\n${failed.length} check(s) failed: ${failed.map((r) => r.name).join(", ")}\n`);
    process.exit(failed.length ? 1 : 0);
  });

program
  .command("run-once")
  .description("run one prompt through the configured executor on this machine, without the platform")
  .requiredOption("--prompt <text>", "the task's prompt")
  .option("--config <path>", "config file")
  .addOption(new Option("--executor <type>", "override the executor").choices(ExecutorType.options))
  .option("--command <template>", 'override the command template, e.g. "claude -p {prompt}"')
  .option("--timeout-ms <ms>", "override the timeout")
  .option("--data-dir <dir>", "where the sandbox is created")
  .option("--keep-sandbox", "keep the sandbox directory afterwards")
  .option("--quiet", "do not show live progress")
  .addOption(new Option("--approver <kind>", "deny or tty").choices(["deny", "tty"]))
  .addOption(new Option("--log-level <level>").choices(["debug", "info", "warn", "error", "silent"]))
  .action(
    async (
      flags: ConnectFlags & {
        prompt: string;
        executor?: ExecutorType;
        command?: string;
        timeoutMs?: string;
        keepSandbox?: boolean;
        quiet?: boolean;
      },
    ) => {
      const options = await resolveOrExit({ ...flags, url: flags.url ?? "http://localhost" }, false);
      const log = createLogger(options.logLevel);
      const abort = new AbortController();
      process.once("SIGINT", () => abort.abort());
      const { runOnce } = await import("./run-once.js");
      const timeoutMs = flags.timeoutMs === undefined ? undefined : Number(flags.timeoutMs);
      if (timeoutMs !== undefined && (!Number.isInteger(timeoutMs) || timeoutMs < 100)) {
        process.stderr.write("perseus-nanobot: --timeout-ms must be an integer ≥ 100\n");
        process.exit(EXIT_USAGE);
      }
      const result = await runOnce({
        prompt: flags.prompt,
        file: options.file,
        executor: flags.executor,
        command: flags.command,
        timeoutMs,
        dataDir: options.dataDir,
        sandboxDir: options.sandboxDir,
        keepSandbox: flags.keepSandbox ?? false,
        approver: createApprover(options.approver, log),
        hostEnv: env,
        log,
        signal: abort.signal,
        onProgress: (kind, data) => {
          if (flags.quiet) return;
          process.stderr.write(
            kind === "stdout" || kind === "stderr" || kind === "text" ? data : `» ${kind}: ${data}\n`,
          );
        },
      });
      if (flags.keepSandbox) process.stderr.write(`sandbox kept at ${result.sandbox}\n`);
      if (result.status === "succeeded") {
        process.stdout.write(result.result.text);
        process.exit(0);
      }
      process.stderr.write(`task failed: ${result.message}\n`);
      process.exit(1);
    },
  );

program
  .command("mcp")
  .description(
    "run the MCP server for agent CLIs started by a Perseus task: stdio, or streamable HTTP on 127.0.0.1 with a bearer token",
  )
  .option("--http", "serve streamable HTTP instead of stdio; prints {url, token} as one JSON line")
  .option("--port <n>", "HTTP port (default: a free one)")
  .action(async (flags: { http?: boolean; port?: string }) => {
    if (!flags.http) {
      if (flags.port !== undefined) {
        process.stderr.write("perseus-nanobot: --port needs --http\n");
        process.exit(EXIT_USAGE);
      }
      const { runMcpServer } = await import("./mcp/server.js");
      await runMcpServer(env, version);
      return;
    }
    const port = flags.port === undefined ? 0 : Number(flags.port);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      process.stderr.write("perseus-nanobot: --port must be an integer 0–65535\n");
      process.exit(EXIT_USAGE);
    }
    const { runMcpHttpServer } = await import("./mcp/http-cli.js");
    await runMcpHttpServer(env, { version, port });
  });

program.parseAsync().catch((error) => {
  process.stderr.write(`perseus-nanobot: ${(error as Error).message}\n`);
  process.exit(1);
});
