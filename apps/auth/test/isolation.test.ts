import { authRoutes } from "@perseus/contracts";
import type { RouteOptions } from "fastify";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bodyFor,
  operationIdOf,
  paramsFor,
  type RouteName,
  routeNames,
  seedWorld,
  urlFor,
  type World,
} from "./fixtures.js";
import { API, bearer, createHarness, type Harness } from "./helper.js";

// T2 (cross-tenant probe of every registered route) and T4 (constraint/existence oracle).
let h: Harness;
const registered: RouteOptions[] = [];
let a: World;
let b: World;

const tenantTables = [
  "tenants",
  "memberships",
  "teams",
  "team_members",
  "chatgroups",
  "chatgroup_members",
  "invites",
  "robots",
  "robot_scopes",
  "robot_credentials",
  "api_keys",
  "audit_events",
  "outbox",
];

/** Everything tenant B has, read past RLS (superuser), to prove probes changed nothing. */
async function snapshot(tenantId: string) {
  const client = new pg.Client({ connectionString: h.database.adminUrl });
  await client.connect();
  try {
    const out: Record<string, unknown> = {};
    for (const table of tenantTables) {
      const { rows } = await client.query(`select * from ${table} where tenant_id = $1 order by 1, 2`, [
        tenantId,
      ]);
      out[table] =
        table === "api_keys" || table === "robot_credentials"
          ? rows.map((r) => ({ ...r, last_used_at: null }))
          : rows;
    }
    return JSON.stringify(out);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  h = await createHarness({}, { onRoute: (route) => registered.push(route) });
  a = await seedWorld(h.app);
  b = await seedWorld(h.app);
});
afterAll(async () => {
  await h?.close();
});

/** Which routes name tenant B's rows in their path or body. */
const bodyRefs: RouteName[] = [
  "switchTenant",
  "transferOwnership",
  "createChatgroup",
  "createRobot",
  "acceptInvite",
  "acceptInviteSignup",
  "robotToken",
  "login",
];
const isIdBased = (name: RouteName) => authRoutes[name].path.includes(":") || bodyRefs.includes(name);

function request(name: RouteName, target: World | "nowhere", token: string, requestId?: string) {
  const spec = authRoutes[name];
  const body = bodyFor(name, target);
  return h.app.inject({
    method: spec.method,
    url: urlFor(name, paramsFor(spec, target)),
    headers: {
      ...(spec.auth === "public" ? {} : bearer(token)),
      ...(requestId ? { "x-request-id": requestId } : {}),
    },
    ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
  });
}

describe("T2: every registered route, probed with tenant A's credentials on tenant B's ids", () => {
  it("registers only contract routes under /api/auth, each with an operationId", () => {
    const ours = registered.filter(
      (r) => String(r.url).startsWith(API) && !/\/docs|openapi\.json/.test(String(r.url)),
    );
    const names = ours.map(operationIdOf);
    expect(names.every((n) => n && routeNames.includes(n))).toBe(true);
    expect(new Set(names).size).toBe(routeNames.length);
  });

  it("answers 404/403/401 on B's ids, leaks no canary, never 5xx, changes nothing in B", async () => {
    const before = await snapshot(b.tenantId);
    const probed = new Set<string>();
    const failures: string[] = [];
    // Session-ending routes last, so the probe token lives through the rest.
    const order = [...routeNames].sort((x, y) => Number(x === "logoutAll") - Number(y === "logoutAll"));
    for (const name of order) {
      const token = authRoutes[name].auth === "robot" ? a.robotToken : a.owner.token;
      const response = await request(name, b, token);
      probed.add(name);
      if (process.env.PROBE_DEBUG)
        console.log(`PROBE ${name} ${response.statusCode} ${response.body.slice(0, 80)}`);
      const status = response.statusCode;
      if (status >= 500) failures.push(`${name}: ${status}`);
      if (response.body.includes(b.canary)) failures.push(`${name}: leaked the canary`);
      if (isIdBased(name) && ![401, 403, 404].includes(status))
        failures.push(`${name}: ${status} ${response.body}`);
    }
    expect(failures).toEqual([]);
    expect(probed.size).toBe(routeNames.length);
    expect(await snapshot(b.tenantId)).toBe(before);
  });

  it("refuses robot tokens on every user route, and user tokens on robot routes", async () => {
    const failures: string[] = [];
    for (const name of routeNames) {
      const spec = authRoutes[name];
      if (spec.auth === "public") continue;
      const token = spec.auth === "robot" ? b.owner.token : a.robotToken;
      const response = await request(name, a, token);
      if (![401, 403].includes(response.statusCode)) failures.push(`${name}: ${response.statusCode}`);
      if (response.body.includes(a.canary)) failures.push(`${name}: leaked`);
    }
    expect(failures).toEqual([]);
  });
});

describe("T4: 'exists in B' and 'exists nowhere' answer byte for byte the same", () => {
  it("for every id-based route (path or body ids)", async () => {
    // A fresh session: the T2 probe ended the owner's sessions with logout-all.
    const fresh = await seedWorld(h.app);
    const differences: string[] = [];
    for (const name of routeNames.filter(isIdBased)) {
      if (name === "login") continue; // covered below: bodies carry an email, not an id
      const token = authRoutes[name].auth === "robot" ? fresh.robotToken : fresh.owner.token;
      const inB = await request(name, b, token, "t4-probe");
      const nowhere = await request(name, "nowhere", token, "t4-probe");
      if (inB.statusCode !== nowhere.statusCode || inB.body !== nowhere.body)
        differences.push(`${name}: ${inB.statusCode} ${inB.body} vs ${nowhere.statusCode} ${nowhere.body}`);
      if (/_pkey|_key\b|_unique|_fkey|constraint|violates/i.test(inB.body))
        differences.push(`${name}: constraint name`);
    }
    expect(differences).toEqual([]);
  });

  it("a robot handle taken in another tenant does not matter; a clash in the same tenant names no constraint", async () => {
    const fresh = await seedWorld(h.app);
    const handleInB = (
      await h.app.inject({ method: "GET", url: `${API}/robots/${b.robotId}`, headers: bearer(b.admin.token) })
    ).json().handle;
    const created = await h.app.inject({
      method: "POST",
      url: `${API}/robots`,
      headers: bearer(fresh.owner.token),
      payload: { handle: handleInB, name: "Same handle" },
    });
    expect(created.statusCode).toBe(201);
    const clash = await h.app.inject({
      method: "POST",
      url: `${API}/robots`,
      headers: bearer(fresh.owner.token),
      payload: { handle: handleInB, name: "Again" },
    });
    expect(clash.statusCode).toBe(409);
    expect(clash.body).not.toMatch(/robots_|_unique|_key|constraint/i);
  });

  it("sign-in: an account of B with a wrong password and no account at all answer the same", async () => {
    const send = (email: string) =>
      h.app.inject({
        method: "POST",
        url: `${API}/login`,
        headers: { "x-request-id": "t4-login" },
        payload: { email, password: "definitely wrong" },
      });
    const known = await send(b.user.email);
    const unknown = await send("nobody-at-all@example.test");
    expect(known.statusCode).toBe(401);
    expect(known.body).toBe(unknown.body);
  });
});
