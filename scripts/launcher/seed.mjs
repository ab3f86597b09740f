// The demo seed: a tenant with an owner login and a robot with a credential, created
// through the auth service's public HTTP API (via the edge), idempotently.
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT } from "./paths.mjs";

export const DEMO = {
  email: process.env.PERSEUS_DEMO_EMAIL ?? "demo@perseus.local",
  password: process.env.PERSEUS_DEMO_PASSWORD ?? "perseus-demo-password",
  name: "Demo Owner",
  handle: "demo",
  tenantName: "Demo",
  robot: {
    handle: "jane",
    name: "Jane",
    description: "Demo robot: runs tasks on the machine where its nanobot runs",
    capabilities: ["shell", "fs"],
  },
};

/** Thrown when the auth API the seed needs is not there (yet): the launcher goes on without a seed. */
export class SeedUnavailable extends Error {}

async function loadContracts() {
  const entry = join(ROOT, "packages/contracts/dist/index.js");
  if (!existsSync(entry)) throw new SeedUnavailable("packages/contracts is not built");
  const contracts = await import(pathToFileURL(entry).href);
  if (!contracts.authRoutes?.login || !contracts.authRoutes?.createRobotCredential) {
    throw new SeedUnavailable("the auth contracts have no login/robot routes yet");
  }
  return contracts;
}

/**
 * Signs in as the demo owner (signing up on first run), makes sure robot @jane exists
 * and has a live credential (kept in `<dataDir>/demo-robot.json`, since a credential's
 * secret is shown only once), and returns what to print.
 */
export async function seedDemo({ edgeUrl, dataDir }) {
  const { authRoutes, buildPath } = await loadContracts();
  const call = async (route, { params, body, token } = {}) => {
    const response = await fetch(`${edgeUrl}/api/auth${buildPath(route.path, params)}`, {
      method: route.method,
      headers: {
        accept: "application/json",
        ...(body ? { "content-type": "application/json" } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(15_000),
    });
    const payload = response.status === 204 ? null : await response.json().catch(() => null);
    if (response.status === 404 && String(payload?.detail ?? "").startsWith("no route")) {
      throw new SeedUnavailable(`the auth service has no ${route.method} ${route.path} yet`);
    }
    return { route, status: response.status, payload };
  };
  // Answers are parsed with the route's own response schema, as every client of the API does.
  const expectStatus = (result, status, what) => {
    if (result.status !== status) {
      throw new Error(
        `${what} answered ${result.status}: ${result.payload?.detail ?? JSON.stringify(result.payload)}`,
      );
    }
    return result.route.responses[status].parse(result.payload);
  };

  let session;
  const login = await call(authRoutes.login, { body: { email: DEMO.email, password: DEMO.password } });
  if (login.status === 200) {
    session = expectStatus(login, 200, "login");
  } else if (login.status === 401) {
    const signup = await call(authRoutes.signup, {
      body: {
        email: DEMO.email,
        password: DEMO.password,
        name: DEMO.name,
        handle: DEMO.handle,
        tenantName: DEMO.tenantName,
      },
    });
    if (signup.status === 409) {
      throw new Error(
        `${DEMO.email} exists with another password (set PERSEUS_DEMO_PASSWORD to its password)`,
      );
    }
    session = expectStatus(signup, 201, "sign-up");
  } else {
    expectStatus(login, 200, "login");
  }
  const token = session.accessToken;

  const { items: robots } = expectStatus(await call(authRoutes.listRobots, { token }), 200, "listing robots");
  let robot = robots.find((item) => item.handle === DEMO.robot.handle && !item.revokedAt);
  if (!robot) {
    robot = expectStatus(
      await call(authRoutes.createRobot, { token, body: DEMO.robot }),
      201,
      "creating the robot",
    );
    // The demo robot runs what it is asked as a shell command (`@jane echo hi`); new robots
    // otherwise start with the agent executor, which needs model profiles first.
    expectStatus(
      await call(authRoutes.putRobotConfig, {
        token,
        params: { id: robot.id },
        body: { settings: { executor: "shell" } },
      }),
      200,
      "configuring the robot",
    );
  }

  const stateFile = join(dataDir, "demo-robot.json");
  const saved = existsSync(stateFile) ? JSON.parse(await readFile(stateFile, "utf8").catch(() => "{}")) : {};
  let secret = null;
  if (saved.robotId === robot.id && saved.credentialId && saved.secret) {
    const listed = await call(authRoutes.listRobotCredentials, { token, params: { id: robot.id } });
    const { items: credentials } = expectStatus(listed, 200, "listing robot credentials");
    if (credentials.some((credential) => credential.id === saved.credentialId && !credential.revokedAt)) {
      secret = saved.secret;
    }
  }
  if (!secret) {
    const created = expectStatus(
      await call(authRoutes.createRobotCredential, { token, params: { id: robot.id } }),
      201,
      "creating a robot credential",
    );
    secret = created.secret;
    const state = { robotId: robot.id, credentialId: created.credential.id, secret };
    await writeFile(stateFile, JSON.stringify(state, null, 2), { mode: 0o600 });
  }
  return { session, robot, secret };
}
