import { randomUUID } from "node:crypto";
import { accessSync, constants, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { RobotSelfResponse } from "@perseus/contracts";
import {
  createCredentialTokenSource,
  createStaticTokenSource,
  parseCredential,
  type TokenSource,
} from "./client/credential.js";
import { connectLongPoll, connectWebSocket, platformUrl } from "./client/transport.js";
import { type ConnectOptions, readHostEnv } from "./config.js";
import { createExecutor } from "./executors/index.js";
import { silentLogger } from "./log.js";
import { type CentralSettings, mergeSettings, parseCentralSettings } from "./settings.js";

export type CheckResult = { name: string; status: "ok" | "fail" | "warn" | "skip"; detail: string };

/** Looks a program up on PATH the way spawn would. */
export function findOnPath(program: string, pathVar: string | undefined): string | null {
  if (program.includes("/")) {
    try {
      accessSync(program, constants.X_OK);
      return program;
    } catch {
      return null;
    }
  }
  for (const dir of (pathVar ?? "").split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, program), constants.X_OK);
      return join(dir, program);
    } catch {}
  }
  return null;
}

const message = (error: unknown) => {
  const e = error as Error & { cause?: { code?: string; message?: string; errors?: { code?: string }[] } };
  const cause = e.cause?.code ?? e.cause?.errors?.[0]?.code ?? e.cause?.message;
  return cause ? `${e.message} (${cause})` : e.message;
};

/** Checks, in order, what `connect` needs; later checks are skipped when an earlier one they depend on failed. */
export async function runDoctor(
  options: ConnectOptions,
  fetchImpl: typeof fetch = fetch,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const add = (r: CheckResult) => results.push(r);
  add({ name: "config", status: "ok", detail: options.configPath });

  let reachable = false;
  try {
    const response = await fetchImpl(platformUrl(options.url, "/api/dispatch/healthz"), {
      signal: AbortSignal.timeout(5_000),
    });
    await response.arrayBuffer().catch(() => {});
    reachable = true;
    add({
      name: "platform reachable",
      status: "ok",
      detail: `${options.url} answered HTTP ${response.status}`,
    });
  } catch (error) {
    add({ name: "platform reachable", status: "fail", detail: `${options.url}: ${message(error)}` });
  }

  let tokens: TokenSource | null = null;
  let token: string | null = null;
  if (!options.credential && !options.token) {
    add({
      name: "credential",
      status: "fail",
      detail: "no credential configured (--credential or PERSEUS_ROBOT_CREDENTIAL)",
    });
  } else if (options.credential && !parseCredential(options.credential)) {
    add({
      name: "credential",
      status: "fail",
      detail: "does not look like a robot credential (prc_<tenant>_<id>_<secret>)",
    });
  } else if (!reachable) {
    add({ name: "credential", status: "skip", detail: "platform unreachable" });
  } else {
    tokens = options.credential
      ? createCredentialTokenSource({ platformUrl: options.url, credential: options.credential, fetchImpl })
      : createStaticTokenSource(options.token!);
    try {
      const access = await tokens.get();
      token = access.token;
      add({
        name: "credential",
        status: "ok",
        detail: access.robot ? `robot @${access.robot.handle}` : "access token given",
      });
    } catch (error) {
      add({ name: "credential", status: "fail", detail: message(error) });
    }
  }

  if (!token || !tokens) {
    add({
      name: `${options.transport === "poll" ? "long-poll" : "websocket"} connect`,
      status: "skip",
      detail: "no access token",
    });
  } else {
    // Connect without hello: a full handshake would replace a nanobot already running as this robot.
    const handlers = { onFrame: () => {}, onClose: () => {} };
    try {
      if (options.transport === "poll") {
        const transport = await connectLongPoll({
          baseUrl: options.url,
          tokens,
          handlers,
          log: silentLogger,
          fetchImpl,
          waitMs: 0,
        });
        transport.close();
        add({ name: "long-poll connect", status: "ok", detail: "session opened" });
      } else {
        const transport = await connectWebSocket({
          baseUrl: options.url,
          token,
          handlers,
          log: silentLogger,
          openTimeoutMs: 8_000,
        });
        transport.close();
        add({ name: "websocket connect", status: "ok", detail: "upgrade accepted" });
      }
    } catch (error) {
      const status = options.transport === "auto" ? "warn" : "fail";
      add({
        name: `${options.transport === "poll" ? "long-poll" : "websocket"} connect`,
        status,
        detail: `${message(error)}${status === "warn" ? " (auto mode falls back to long-poll)" : ""}`,
      });
    }
  }

  const sandboxRoot = options.sandboxDir ?? join(options.dataDir, "sandboxes");
  try {
    mkdirSync(sandboxRoot, { recursive: true, mode: 0o700 });
    const probe = join(sandboxRoot, `.doctor-${randomUUID()}`);
    writeFileSync(probe, "ok");
    rmSync(probe);
    add({ name: "sandbox writable", status: "ok", detail: sandboxRoot });
  } catch (error) {
    add({ name: "sandbox writable", status: "fail", detail: `${sandboxRoot}: ${message(error)}` });
  }

  let central: CentralSettings = {};
  if (token) {
    try {
      const response = await fetchImpl(platformUrl(options.url, "/api/auth/robot/me"), {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(5_000),
      });
      if (response.ok)
        central = parseCentralSettings(
          RobotSelfResponse.parse(await response.json()).config.settings,
        ).settings;
    } catch {} // the executor check falls back to the local config
  }
  const hostEnv = readHostEnv();
  const settings = mergeSettings(central, options.file, hostEnv);
  if (settings.refusal) {
    add({ name: "executor", status: "fail", detail: settings.refusal });
  } else {
    const executor = createExecutor(settings, { hostEnv });
    const missing = executor.requiredPrograms().filter((p) => !findOnPath(p, hostEnv.PATH));
    if (settings.executor.type === "command" && executor.requiredPrograms().length === 0) {
      add({
        name: "executor",
        status: "fail",
        detail: "command executor without a command template (executor.command)",
      });
    } else if (missing.length) {
      add({
        name: "executor",
        status: "fail",
        detail: `${settings.executor.type}: not found on PATH: ${missing.join(", ")}`,
      });
    } else if (settings.executor.type === "agent" && settings.agent.profiles.length === 0) {
      add({ name: "executor", status: "fail", detail: "agent executor without model profiles" });
    } else {
      add({
        name: "executor",
        status: "ok",
        detail: `${settings.executor.type} (${executor.requiredPrograms().join(", ") || "built in"})`,
      });
    }
  }
  return results;
}

export function formatChecks(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length), 5);
  const mark = { ok: "ok  ", fail: "FAIL", warn: "warn", skip: "skip" } as const;
  const lines = [
    `${"CHECK".padEnd(width)}  STATUS  DETAIL`,
    ...results.map((r) => `${r.name.padEnd(width)}  ${mark[r.status]}    ${r.detail}`),
  ];
  return `${lines.join("\n")}\n`;
}
