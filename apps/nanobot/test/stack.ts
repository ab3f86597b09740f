import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestDatabase, createTestRedis, type ManagedProcess, startProcess } from "@perseus/testing";
import { APP_DIR, NODE_ARGS } from "./helper.js";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const serverOf = (app: string) => join(APP_DIR, "..", app, "src", "server.ts");

/**
 * The real auth, dispatch and edge services as child processes on a fresh database and
 * Redis namespace: what a user's nanobot talks to, behind one origin. Dispatch trusts
 * auth's JWKS; revocations travel through Redis as in production.
 */
export async function startStack(options: { chatAndWorkspace?: boolean } = {}) {
  const [database, redis] = await Promise.all([createTestDatabase({ poolSize: 2 }), createTestRedis()]);
  const [authPort, dispatchPort, edgePort, chatPort, workspacePort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const jwksUrl = `http://127.0.0.1:${authPort}/api/auth/.well-known/jwks.json`;
  const storageDir = join(tmpdir(), `nanobot-ws-${randomUUID()}`);
  const issuer = "perseus-nanobot-test";
  const common = {
    NODE_ENV: "test",
    LOG_LEVEL: "warn",
    HOST: "127.0.0.1",
    DATABASE_URL: database.url,
    DATABASE_POOL_SIZE: "4",
    REDIS_URL: redis.url,
    REDIS_PREFIX: redis.prefix,
    AUTH_ISSUER: issuer,
    PUBLIC_ORIGIN: `http://127.0.0.1:${edgePort}`,
  };
  const processes: ManagedProcess[] = [];
  const start = async (name: string, env: Record<string, string>, port: number) => {
    const child = await startProcess({
      name,
      command: process.execPath,
      args: [...NODE_ARGS, serverOf(name)],
      cwd: APP_DIR,
      env: { ...common, ...env, PORT: String(port) },
      ready: { url: `http://127.0.0.1:${port}/healthz` },
      readyTimeoutMs: 150_000,
    });
    processes.push(child);
    return child;
  };
  try {
    await Promise.all([
      start(
        "auth",
        {
          AUTH_KEY_ACTIVATION_DELAY_SECONDS: "0",
          AUTH_ARGON2_MEMORY_KIB: "1024",
          AUTH_ARGON2_PASSES: "1",
          AUTH_COOKIE_SECURE: "false",
          RATE_LIMIT_SIGNUP_PER_IP: "1000",
          RATE_LIMIT_LOGIN_PER_IP: "1000",
          RATE_LIMIT_ROBOT_TOKEN_PER_IP: "1000",
        },
        authPort,
      ),
      start(
        "dispatch",
        {
          AUTH_JWKS_URL: jwksUrl,
          HEARTBEAT_INTERVAL_MS: "500",
          LOCAL_POLL_MS: "300",
          SWEEP_INTERVAL_MS: "500",
        },
        dispatchPort,
      ),
      start(
        "edge",
        {
          EDGE_UPSTREAM_AUTH: `http://127.0.0.1:${authPort}`,
          EDGE_UPSTREAM_DISPATCH: `http://127.0.0.1:${dispatchPort}`,
          EDGE_UPSTREAM_CHAT: `http://127.0.0.1:${chatPort}`,
          EDGE_UPSTREAM_WORKSPACE: `http://127.0.0.1:${workspacePort}`,
          EDGE_HEALTH_INTERVAL_MS: "200",
        },
        edgePort,
      ),
      ...(options.chatAndWorkspace
        ? [
            start("chat", { AUTH_JWKS_URL: jwksUrl }, chatPort),
            start("workspace", { AUTH_JWKS_URL: jwksUrl, WORKSPACE_STORAGE_DIR: storageDir }, workspacePort),
          ]
        : []),
    ]);
  } catch (error) {
    for (const child of processes) await child.stop().catch(() => {});
    await redis.cleanup();
    await database.drop();
    rmSync(storageDir, { recursive: true, force: true });
    throw error;
  }
  const url = `http://127.0.0.1:${edgePort}`;
  // The edge routes to an upstream only once its health poll has seen it ready.
  const services = options.chatAndWorkspace
    ? ["auth", "dispatch", "chat", "workspace"]
    : ["auth", "dispatch"];
  for (const path of services.map((s) =>
    s === "auth" ? "/api/auth/.well-known/jwks.json" : `/api/${s}/openapi.json`,
  )) {
    for (let i = 0; i < 200; i++) {
      const status = await fetch(`${url}${path}`)
        .then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        })
        .catch(() => 0);
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  let userToken = "";
  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: {
        ...(userToken ? { authorization: `Bearer ${userToken}` } : {}),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  };
  const tag = randomUUID().slice(0, 8);
  const signup = await api("POST", "/api/auth/signup", {
    email: `owner-${tag}@example.test`,
    password: "correct horse battery staple",
    name: "Owner",
    handle: `owner${tag}`,
    tenantName: `Nanobot ${tag}`,
  });
  userToken = signup.accessToken as string;
  const chatgroupId = signup.chatgroupId as string;

  return {
    url,
    api,
    chatgroupId,
    userToken: () => userToken,
    /** A robot with one credential, created through the console's API. */
    async createRobot(executor: "shell" | "command" = "shell") {
      const robot = await api("POST", "/api/auth/robots", {
        handle: `bot${randomUUID().slice(0, 6)}`,
        name: "Nanobot",
        capabilities: ["shell"],
      });
      await api("PUT", `/api/auth/robots/${robot.id}/config`, {
        settings: { executor, deny: ["\\bcurl\\b"] },
      });
      const created = await api("POST", `/api/auth/robots/${robot.id}/credentials`);
      return {
        robotId: robot.id as string,
        handle: robot.handle as string,
        credential: created.secret as string,
        credentialId: (created.credential as { id: string }).id,
      };
    },
    async close() {
      for (const child of processes.reverse()) await child.stop(10_000).catch(() => {});
      await redis.cleanup();
      await database.drop();
      rmSync(storageDir, { recursive: true, force: true });
    },
  };
}
export type Stack = Awaited<ReturnType<typeof startStack>>;
