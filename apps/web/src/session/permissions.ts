import type { ApiKeyScope, TenantRole } from "@perseus/contracts";

/**
 * Which tenant roles may do what, as the services decide it (auth's RBAC table and
 * dispatch's checks). The console only hides what a role cannot do; the server still
 * refuses, and its problem message is shown when it does.
 */
const rules = {
  "tenant.update": ["owner"],
  "members.manage": ["owner", "admin"],
  "teams.write": ["owner", "admin"],
  "chatgroups.create": ["owner", "admin", "user"],
  "chatgroups.write": ["owner", "admin"],
  "invites.manage": ["owner", "admin"],
  "robots.write": ["owner", "admin"],
  "robots.credentials": ["owner", "admin"],
  "api_keys.manage": ["owner", "admin"],
  "audit.read": ["owner", "admin"],
  "system.read": ["owner", "admin"],
  "tasks.manage": ["owner", "admin"],
  "terminals.open": ["owner", "admin"],
} as const satisfies Record<string, readonly TenantRole[]>;

export type Permission = keyof typeof rules;

export function can(role: TenantRole | null | undefined, permission: Permission): boolean {
  return role ? (rules[permission] as readonly TenantRole[]).includes(role) : false;
}

/** Roles a member may be given by `role` (only owners make owners, by transfer). */
export function assignableRoles(role: TenantRole | null): TenantRole[] {
  return can(role, "members.manage") ? ["admin", "user"] : [];
}

/**
 * API key scopes a role may hand out: those of the actions the role itself may do, plus
 * the content scopes every member has (the auth service computes the same set).
 */
const scopeRules = {
  "tenant:read": ["owner", "admin", "user"],
  "members:read": ["owner", "admin", "user"],
  "teams:read": ["owner", "admin", "user"],
  "teams:write": ["owner", "admin"],
  "chatgroups:read": ["owner", "admin", "user"],
  "chatgroups:write": ["owner", "admin", "user"],
  "robots:read": ["owner", "admin", "user"],
  "robots:write": ["owner", "admin"],
  "audit:read": ["owner", "admin"],
  "messages:read": ["owner", "admin", "user"],
  "messages:write": ["owner", "admin", "user"],
  "tasks:read": ["owner", "admin", "user"],
  "tasks:write": ["owner", "admin", "user"],
  "files:read": ["owner", "admin", "user"],
  "files:write": ["owner", "admin", "user"],
} as const satisfies Record<ApiKeyScope, readonly TenantRole[]>;

export function scopesFor(role: TenantRole | null): ApiKeyScope[] {
  if (!role) return [];
  return (Object.keys(scopeRules) as ApiKeyScope[]).filter((scope) =>
    (scopeRules[scope] as readonly TenantRole[]).includes(role),
  );
}
