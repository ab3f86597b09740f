import { ApiKeyScope, authRoutes, Id, type RouteSpec } from "@perseus/contracts";
import type { Actor } from "@perseus/kit";
import fc from "fast-check";
import type { RouteOptions } from "fastify";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAllowed, rbac, routeActions, scopesAllowedFor } from "../src/rbac.js";
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
import { API, bearer, createHarness, type Harness, login } from "./helper.js";

let h: Harness;
const registered: RouteOptions[] = [];
let w: World;
let apiKey: string;

beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_PER_USER: "100000" }, { onRoute: (route) => registered.push(route) });
  w = await seedWorld(h.app);
  const key = await h.app.inject({
    method: "POST",
    url: `${API}/api-keys`,
    headers: bearer(w.owner.token),
    payload: { name: "all scopes", scopes: scopesAllowedFor("owner") },
  });
  apiKey = key.json().key;
});
afterAll(async () => {
  await h?.close();
});

type Role = "owner" | "admin" | "user" | "robot" | "api_key";
const roles: Role[] = ["owner", "admin", "user", "robot", "api_key"];
const actorFor = (role: Role): Actor =>
  role === "robot"
    ? { type: "robot", robotId: w.robotId, tenantId: w.tenantId, handle: "x" }
    : role === "api_key"
      ? {
          type: "api_key",
          keyId: w.apiKeyId,
          tenantId: w.tenantId,
          scopes: scopesAllowedFor("owner"),
          createdBy: "x",
        }
      : { type: "user", userId: "x", tenantId: w.tenantId, role };

describe("RBAC table", () => {
  it("every registered route has exactly one RBAC action that exists in the table", () => {
    // HEAD twins of GET routes carry the same operationId.
    const ours = [
      ...new Set(
        registered
          .map(operationIdOf)
          .filter((name): name is RouteName => !!name && Object.hasOwn(authRoutes, name)),
      ),
    ];
    expect(ours.sort()).toEqual([...routeNames].sort());
    for (const name of ours) expect(Object.hasOwn(rbac, routeActions[name]), name).toBe(true);
    // Public routes are exactly the contract's public routes.
    for (const name of routeNames)
      expect(routeActions[name] === "public", name).toBe(authRoutes[name].auth === "public");
  });

  it("matrix: every non-public route × role answers 403 exactly where the table says no", async () => {
    const tokens: Record<Role, string> = {
      owner: w.owner.token,
      admin: w.admin.token,
      user: w.user.token,
      robot: w.robotToken,
      api_key: "",
    };
    const emails: Partial<Record<Role, string>> = {
      owner: w.owner.email,
      admin: w.admin.email,
      user: w.user.email,
    };
    // Routes that end the caller's session or membership run last, each with a fresh session.
    const last: RouteName[] = ["logoutAll", "leaveTenant"];
    const order = routeNames.filter((n) => authRoutes[n].auth !== "public" && !last.includes(n)).concat(last);
    const mismatches: string[] = [];
    let probes = 0;
    for (const role of roles) {
      for (const name of order) {
        const spec = authRoutes[name];
        let token = tokens[role];
        const email = emails[role];
        if (last.includes(name) && email) token = (await login(h.app, email)).session?.accessToken ?? token;
        const body = bodyFor(name, "nowhere");
        const response = await h.app.inject({
          method: spec.method,
          url: urlFor(name, paramsFor(spec, "nowhere")),
          headers: role === "api_key" ? { "x-api-key": apiKey } : bearer(token),
          ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
        });
        probes++;
        const allowed = isAllowed(actorFor(role), routeActions[name]);
        const status = response.statusCode;
        if (status >= 500) mismatches.push(`${role} ${name}: ${status}`);
        if (allowed && (status === 403 || status === 401))
          mismatches.push(`${role} ${name}: allowed but ${status} ${response.body}`);
        if (!allowed && status !== 403) mismatches.push(`${role} ${name}: denied but ${status}`);
      }
    }
    expect(mismatches).toEqual([]);
    expect(probes).toBe(roles.length * order.length);
  });
});

/** Row counts of every table, past RLS, to prove rejected input changed nothing. */
async function rowCounts() {
  const client = new pg.Client({ connectionString: h.database.adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ relname: string }>(
      "select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and relkind = 'r' order by 1",
    );
    const counts: Record<string, number> = {};
    for (const { relname } of rows) {
      counts[relname] = Number((await client.query(`select count(*) from "${relname}"`)).rows[0].count);
    }
    return counts;
  } finally {
    await client.end();
  }
}

describe("fuzz: schema-violating params, query and body on every route", () => {
  it("answers 4xx problem+json, never 5xx, and changes no table", async () => {
    const fresh = await seedWorld(h.app);
    const before = await rowCounts();
    const notUuid = fc.string({ minLength: 1, maxLength: 60 }).filter((s) => !Id.safeParse(s).success);
    const failures: string[] = [];
    for (const name of routeNames) {
      const spec: RouteSpec = authRoutes[name];
      if (!spec.params && !spec.query && !spec.body) continue;
      const token = spec.auth === "robot" ? fresh.robotToken : fresh.owner.token;
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            part: fc.constantFrom(...(["params", "query", "body"] as const).filter((p) => spec[p])),
            param: notUuid,
            query: fc.dictionary(
              fc.constantFrom(
                "limit",
                "cursor",
                "includeArchived",
                "teamId",
                "from",
                "to",
                "actorId",
                "tenantId",
                "code",
                "state",
              ),
              fc.oneof(fc.string({ maxLength: 30 }), fc.constant(""), fc.constant("x".repeat(3000))),
            ),
            body: fc.jsonValue({ maxDepth: 3 }),
          }),
          async (input) => {
            const params = paramsFor(spec, fresh);
            if (input.part === "params") for (const key of Object.keys(params)) params[key] = input.param;
            if (input.part === "query") fc.pre(!(spec.query?.safeParse(input.query).success ?? true));
            if (input.part === "body") fc.pre(!(spec.body?.safeParse(input.body).success ?? true));
            const path = spec.path.replace(/:([A-Za-z]+)/g, (_, p: string) =>
              encodeURIComponent(params[p] as string),
            );
            const query = input.part === "query" ? `?${new URLSearchParams(input.query).toString()}` : "";
            const body = input.part === "body" ? input.body : bodyFor(name, fresh);
            const response = await h.app.inject({
              method: spec.method,
              url: `${API}${path}${query}`,
              headers: { ...bearer(token), "content-type": "application/json" },
              ...(spec.method === "GET"
                ? {}
                : { payload: JSON.stringify(input.part === "body" ? input.body : (body ?? {})) }),
            });
            const ok =
              response.statusCode >= 400 &&
              response.statusCode < 500 &&
              /problem\+json/.test(String(response.headers["content-type"]));
            if (!ok)
              failures.push(`${name} ${input.part}: ${response.statusCode} ${response.body.slice(0, 100)}`);
          },
        ),
        { numRuns: 8 },
      );
    }
    expect(failures).toEqual([]);
    expect(await rowCounts()).toEqual(before);
  });
});

describe("API key scopes", () => {
  it("a key gets only scopes its creator's role may use, and only its scopes work", async () => {
    const w = await seedWorld(h.app);
    const asUser = await h.app.inject({
      method: "POST",
      url: `${API}/api-keys`,
      headers: bearer(w.user.token),
      payload: { name: "x", scopes: ["teams:read"] },
    });
    expect(asUser.statusCode).toBe(403);
    expect(scopesAllowedFor("user")).not.toContain("audit:read");
    const narrow = await h.app.inject({
      method: "POST",
      url: `${API}/api-keys`,
      headers: bearer(w.admin.token),
      payload: { name: "narrow", scopes: ["teams:read"] },
    });
    const headers = { "x-api-key": narrow.json().key };
    expect((await h.app.inject({ method: "GET", url: `${API}/teams`, headers })).statusCode).toBe(200);
    expect((await h.app.inject({ method: "GET", url: `${API}/robots`, headers })).statusCode).toBe(403);
    expect(
      (await h.app.inject({ method: "POST", url: `${API}/teams`, headers, payload: { name: "x" } }))
        .statusCode,
    ).toBe(403);
    expect(ApiKeyScope.options.length).toBeGreaterThan(0);
  });
});
