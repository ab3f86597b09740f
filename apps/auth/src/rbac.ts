import type { ApiKeyScope, AuthRoutes, TenantRole } from "@perseus/contracts";
import { type Actor, ForbiddenError } from "@perseus/kit";

/**
 * Who may do what, defined once: each action lists the tenant roles allowed and the API
 * key scope that grants it (none: API keys may never do it). Robots get only
 * `robot.self`. Every route names exactly one action (`routeActions`); app.ts refuses to
 * register a route without one and the RBAC matrix test probes every route × role.
 */
export const rbac = {
  public: { roles: [], scope: null },
  "session.self": { roles: ["owner", "admin", "user"], scope: null },
  "keys.read": { roles: ["owner"], scope: null },
  "keys.rotate": { roles: ["owner"], scope: null },
  "tenant.read": { roles: ["owner", "admin", "user"], scope: "tenant:read" },
  "tenant.update": { roles: ["owner"], scope: null },
  "tenant.transfer": { roles: ["owner"], scope: null },
  "members.read": { roles: ["owner", "admin", "user"], scope: "members:read" },
  "members.manage": { roles: ["owner", "admin"], scope: null },
  "teams.read": { roles: ["owner", "admin", "user"], scope: "teams:read" },
  "teams.write": { roles: ["owner", "admin"], scope: "teams:write" },
  "chatgroups.read": { roles: ["owner", "admin", "user"], scope: "chatgroups:read" },
  "chatgroups.create": { roles: ["owner", "admin", "user"], scope: "chatgroups:write" },
  "chatgroups.write": { roles: ["owner", "admin"], scope: "chatgroups:write" },
  "invites.manage": { roles: ["owner", "admin"], scope: null },
  "robots.read": { roles: ["owner", "admin", "user"], scope: "robots:read" },
  "robots.write": { roles: ["owner", "admin"], scope: "robots:write" },
  "robots.credentials": { roles: ["owner", "admin"], scope: null },
  "api_keys.manage": { roles: ["owner", "admin"], scope: null },
  "audit.read": { roles: ["owner", "admin"], scope: "audit:read" },
  "system.read": { roles: ["owner", "admin"], scope: null },
  "robot.self": { roles: [], scope: null },
} as const satisfies Record<string, { roles: readonly TenantRole[]; scope: ApiKeyScope | null }>;
export type RbacAction = keyof typeof rbac;

/** The one RBAC action of every route. */
export const routeActions: Record<keyof AuthRoutes, RbacAction> = {
  jwks: "public",
  signup: "public",
  login: "public",
  refresh: "public",
  logout: "public",
  robotToken: "public",
  acceptInviteSignup: "public",
  oidcStart: "public",
  oidcCallback: "public",
  logoutAll: "session.self",
  me: "session.self",
  switchTenant: "session.self",
  leaveTenant: "session.self",
  acceptInvite: "session.self",
  listSigningKeys: "keys.read",
  rotateSigningKey: "keys.rotate",
  getTenant: "tenant.read",
  updateTenant: "tenant.update",
  transferOwnership: "tenant.transfer",
  listMembers: "members.read",
  getMember: "members.read",
  updateMember: "members.manage",
  removeMember: "members.manage",
  disableMember: "members.manage",
  enableMember: "members.manage",
  listTeams: "teams.read",
  getTeam: "teams.read",
  listTeamMembers: "teams.read",
  createTeam: "teams.write",
  updateTeam: "teams.write",
  archiveTeam: "teams.write",
  addTeamMember: "teams.write",
  removeTeamMember: "teams.write",
  listChatgroups: "chatgroups.read",
  getChatgroup: "chatgroups.read",
  listChatgroupMembers: "chatgroups.read",
  createChatgroup: "chatgroups.create",
  updateChatgroup: "chatgroups.write",
  archiveChatgroup: "chatgroups.write",
  addChatgroupMember: "chatgroups.write",
  removeChatgroupMember: "chatgroups.write",
  listInvites: "invites.manage",
  createInvite: "invites.manage",
  revokeInvite: "invites.manage",
  listRobots: "robots.read",
  getRobot: "robots.read",
  getRobotConfig: "robots.read",
  createRobot: "robots.write",
  updateRobot: "robots.write",
  revokeRobot: "robots.write",
  putRobotConfig: "robots.write",
  listRobotCredentials: "robots.credentials",
  createRobotCredential: "robots.credentials",
  revokeRobotCredential: "robots.credentials",
  robotSelf: "robot.self",
  listApiKeys: "api_keys.manage",
  createApiKey: "api_keys.manage",
  revokeApiKey: "api_keys.manage",
  listAudit: "audit.read",
  verifyAudit: "audit.read",
  listInstances: "system.read",
};

/** Whether an actor may perform an action (tenant membership is checked by the caller's tenant context). */
export function isAllowed(actor: Actor | undefined, action: RbacAction): boolean {
  const rule = rbac[action];
  if (action === "public") return true;
  if (!actor) return false;
  switch (actor.type) {
    case "user":
      return (rule.roles as readonly TenantRole[]).includes(actor.role);
    case "robot":
      return action === "robot.self";
    case "api_key":
      return rule.scope !== null && actor.scopes.includes(rule.scope);
  }
}

export function authorize(actor: Actor | undefined, action: RbacAction): void {
  if (!isAllowed(actor, action)) throw new ForbiddenError("your role does not allow this");
}

/** Scopes a role may hand to an API key it creates: those of the actions the role itself may do. */
export function scopesAllowedFor(role: TenantRole): ApiKeyScope[] {
  const scopes = new Set<ApiKeyScope>();
  for (const rule of Object.values(rbac)) {
    if (rule.scope && (rule.roles as readonly TenantRole[]).includes(role)) scopes.add(rule.scope);
  }
  // Scopes of other services: readers and writers of content every member has.
  for (const scope of [
    "messages:read",
    "messages:write",
    "tasks:read",
    "tasks:write",
    "files:read",
    "files:write",
  ] as const)
    scopes.add(scope);
  return [...scopes];
}
