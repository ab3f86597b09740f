import { randomUUID } from "node:crypto";
import { type AuthRoutes, authRoutes, buildPath, type RouteSpec } from "@perseus/contracts";
import type { FastifyInstance, RouteOptions } from "fastify";
import { API, bearer, PASSWORD, type SeededTenant, seedRobot, seedTenant, uniqueTag } from "./helper.js";

export type RouteName = keyof AuthRoutes;
export const routeNames = Object.keys(authRoutes) as RouteName[];

/** Ids of one tenant's rows of every kind, and the canary string planted in them. */
export type World = SeededTenant & {
  canary: string;
  privateTeamId: string;
  privateChatgroupId: string;
  robotId: string;
  robotToken: string;
  robotSecret: string;
  credentialId: string;
  inviteId: string;
  inviteToken: string;
  apiKeyId: string;
  apiKey: string;
};

/** A tenant with one of everything, names carrying `canary` so a leak is easy to spot. */
export async function seedWorld(
  app: FastifyInstance,
  canary = `CANARY${uniqueTag().toUpperCase()}`,
): Promise<World> {
  const t = await seedTenant(app);
  const call = async (method: "POST" | "PATCH", path: string, payload: Record<string, unknown>) => {
    const response = await app.inject({
      method,
      url: `${API}${path}`,
      headers: bearer(t.owner.token),
      payload,
    });
    if (response.statusCode >= 300)
      throw new Error(`${method} ${path}: ${response.statusCode} ${response.body}`);
    return response.json();
  };
  await call("PATCH", "/tenant", { name: `${canary} tenant` });
  const team = await call("POST", "/teams", { name: `${canary} team` });
  const chatgroup = await call("POST", "/chatgroups", {
    teamId: team.id,
    name: `${canary} private`,
    visibility: "private",
    memberIds: [],
  });
  const robot = await seedRobot(app, t.owner.token, `r${canary.toLowerCase()}`.slice(0, 30));
  await call("PATCH", `/robots/${robot.robot.id}`, {
    name: `${canary} robot`,
    description: `${canary} description`,
  });
  const invite = await call("POST", "/invites", {
    role: "user",
    email: `${canary.toLowerCase()}@example.test`,
  });
  const apiKey = await call("POST", "/api-keys", {
    name: `${canary} key`,
    scopes: [
      "tenant:read",
      "members:read",
      "teams:read",
      "teams:write",
      "chatgroups:read",
      "chatgroups:write",
      "robots:read",
      "robots:write",
      "audit:read",
    ],
  });
  return {
    ...t,
    canary,
    privateTeamId: team.id,
    privateChatgroupId: chatgroup.id,
    robotId: robot.robot.id,
    robotToken: robot.token,
    robotSecret: robot.secret,
    credentialId: robot.credentialId,
    inviteId: invite.invite.id,
    inviteToken: invite.token,
    apiKeyId: apiKey.apiKey.id,
    apiKey: apiKey.key,
  };
}

/** The id a path parameter names, taken from `world` (or random ids for "exists nowhere"). */
export function paramsFor(spec: RouteSpec, world: World | "nowhere"): Record<string, string> {
  const pick = (value: string) => (world === "nowhere" ? randomUUID() : value);
  const params: Record<string, string> = {};
  const names = [...spec.path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1] as string);
  const w = world === "nowhere" ? undefined : world;
  for (const name of names) {
    if (name === "userId") params[name] = pick(w?.admin.session.user.id ?? "");
    else if (name === "credentialId") params[name] = pick(w?.credentialId ?? "");
    else if (spec.path.startsWith("/teams")) params[name] = pick(w?.privateTeamId ?? "");
    else if (spec.path.startsWith("/chatgroups")) params[name] = pick(w?.privateChatgroupId ?? "");
    else if (spec.path.startsWith("/robots")) params[name] = pick(w?.robotId ?? "");
    else if (spec.path.startsWith("/invites")) params[name] = pick(w?.inviteId ?? "");
    else if (spec.path.startsWith("/api-keys")) params[name] = pick(w?.apiKeyId ?? "");
    else throw new Error(`no fixture for :${name} in ${spec.path}`);
  }
  return params;
}

const robotConfig = { settings: { executor: "agent" } };

/** A schema-valid body per route, pointing at `target`'s rows where the body names ids. */
export function bodyFor(name: RouteName, target: World | "nowhere"): unknown {
  const w = target === "nowhere" ? undefined : target;
  const id = (value: string | undefined) => value ?? randomUUID();
  const tag = uniqueTag();
  switch (name) {
    case "signup":
      return {
        email: `probe-${tag}@example.test`,
        password: PASSWORD,
        name: "Probe",
        handle: `probe${tag}`,
        tenantName: "Probe",
      };
    case "login":
      return { email: w?.admin.email ?? `nobody-${tag}@example.test`, password: "not the password" };
    case "switchTenant":
      return { tenantId: id(w?.tenantId) };
    case "updateTenant":
      return { name: "Renamed" };
    case "transferOwnership":
      return { userId: id(w?.admin.session.user.id) };
    case "updateMember":
      return { role: "user" };
    case "createTeam":
    case "updateTeam":
    case "updateChatgroup":
      return { name: `Probe ${tag}` };
    case "createChatgroup":
      return { teamId: id(w?.privateTeamId), name: `Probe ${tag}` };
    case "createInvite":
      return { role: "user" };
    case "acceptInvite":
      return { token: forgeToken("pin", w?.tenantId, w?.inviteId) };
    case "acceptInviteSignup":
      return {
        token: forgeToken("pin", w?.tenantId, w?.inviteId),
        email: `probe-${tag}@example.test`,
        password: PASSWORD,
        name: "Probe",
        handle: `probe${tag}`,
      };
    case "createRobot":
      return { handle: `probe${tag}`, name: "Probe", scopes: { teamIds: [id(w?.privateTeamId)] } };
    case "updateRobot":
      return { name: "Probe" };
    case "putRobotConfig":
      return robotConfig;
    case "robotToken":
      return { credential: forgeToken("prc", w?.tenantId, w?.credentialId) };
    case "createApiKey":
      return { name: "Probe", scopes: ["teams:read"] };
    default:
      return (authRoutes[name] as RouteSpec).body ? {} : undefined;
  }
}

/** A well-formed credential of a real tenant and row but the wrong secret (or of nothing). */
export function forgeToken(kind: "pin" | "prc" | "pak", tenantId?: string, id?: string) {
  return `${kind}_${tenantId ?? randomUUID()}_${id ?? randomUUID()}_${"A".repeat(43)}`;
}

export function urlFor(name: RouteName, params: Record<string, string>, query = ""): string {
  return `${API}${buildPath(authRoutes[name].path, params)}${query}`;
}

export const operationIdOf = (route: RouteOptions) =>
  (route.schema as { operationId?: string } | undefined)?.operationId as RouteName | undefined;
