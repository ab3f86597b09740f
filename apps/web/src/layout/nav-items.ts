import type { LinkProps } from "@tanstack/react-router";
import type { Permission } from "../session/permissions.js";

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
