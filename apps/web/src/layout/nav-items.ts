import type { TenantRole } from "@perseus/contracts";
import type { LinkProps } from "@tanstack/react-router";
import { can, type Permission } from "../session/permissions.js";

export type NavSection = "Work" | "Organisation" | "Robots" | "Administration";

export type NavItem = {
  to: NonNullable<LinkProps["to"]>;
  label: string;
  section: NavSection;
  /** Shown only to roles with this permission (the page itself handles the rest). */
  permission?: Permission;
  /** Only an exact path match marks the item as current (for `/`). */
  exact?: boolean;
};

export const navSections: NavSection[] = ["Work", "Organisation", "Robots", "Administration"];

/**
 * The side navigation of the signed-in console, in order. Feature areas append their
 * entries here (one line each) next to their routes in `router.tsx`.
 */
export const navItems: NavItem[] = [
  { to: "/", label: "Overview", section: "Work", exact: true },
  { to: "/chat", label: "Chat", section: "Work" },
  { to: "/workspace", label: "Workspace", section: "Work" },
  { to: "/tasks", label: "Tasks", section: "Work" },
  { to: "/teams", label: "Teams & chatgroups", section: "Organisation" },
  { to: "/people", label: "People", section: "Organisation" },
  { to: "/invites", label: "Invites", section: "Organisation", permission: "invites.manage" },
  { to: "/api-keys", label: "API keys", section: "Organisation", permission: "api_keys.manage" },
  { to: "/robots", label: "Robots", section: "Robots" },
  { to: "/dead-letters", label: "Dead letters", section: "Robots" },
  { to: "/audit", label: "Audit log", section: "Administration", permission: "audit.read" },
  { to: "/status", label: "System status", section: "Administration" },
];

/** The entries a role sees, grouped by section in `navSections` order (empty sections left out). */
export function visibleNav(role: TenantRole | null, items: NavItem[] = navItems) {
  const visible = items.filter((item) => !item.permission || can(role, item.permission));
  return navSections
    .map((section) => ({ section, items: visible.filter((item) => item.section === section) }))
    .filter((group) => group.items.length > 0);
}
