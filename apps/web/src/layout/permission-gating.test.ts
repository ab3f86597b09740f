// @vitest-environment happy-dom
import type { SessionResponse, TenantRole } from "@perseus/contracts";
import { cleanup, render, screen } from "@testing-library/react";
import { createElement } from "react";
import { afterEach, describe, expect, it } from "vitest";
import { RequirePermission } from "../components/require-permission.js";
import { can, scopesFor } from "../session/permissions.js";
import { SessionProvider } from "../session/session.js";
import { createSessionStore } from "../session/session-store.js";
import { visibleNav } from "./nav-items.js";

function storeFor(role: TenantRole) {
  const store = createSessionStore({
    refresh: () => Promise.reject(new Error("not used")),
    isSignedOutError: () => true,
    setTimer: () => 0,
    clearTimer: () => undefined,
  });
  const session: SessionResponse = {
    accessToken: "t",
    tokenType: "Bearer",
    expiresAt: new Date(Date.now() + 600_000).toISOString(),
    sessionId: "0190c6a4-5d2e-7b4a-9c3f-2e8d1a6b7c90",
    user: { id: "0190c6a4-5d2e-7b4a-9c3f-2e8d1a6b7c91", email: "u@example.com", name: "U", handle: "u" },
    tenant: { id: "0190c6a4-5d2e-7b4a-9c3f-2e8d1a6b7c92", name: "Acme", role },
  };
  store.signIn(session);
  return store;
}

function renderAs(role: TenantRole) {
  const button = createElement("button", { type: "button" }, "Create API key");
  const gated = createElement(RequirePermission, {
    permission: "api_keys.manage",
    what: "manage API keys",
    children: button,
  });
  return render(createElement(SessionProvider, { store: storeFor(role), children: gated }));
}

afterEach(cleanup);

describe("permission gating", () => {
  it("shows an admin-only control to admins and owners, and an explanation to members", () => {
    renderAs("admin");
    expect(screen.getByRole("button", { name: "Create API key" })).toBeTruthy();
    cleanup();
    renderAs("owner");
    expect(screen.getByRole("button", { name: "Create API key" })).toBeTruthy();
    cleanup();
    renderAs("user");
    expect(screen.queryByRole("button", { name: "Create API key" })).toBeNull();
    expect(screen.getByRole("note").textContent).toMatch(/may not manage API keys/);
  });

  it("leaves admin pages out of a member's navigation", () => {
    const labels = (role: TenantRole) =>
      visibleNav(role).flatMap((group) => group.items.map((item) => item.label));
    expect(labels("user")).not.toContain("Audit log");
    expect(labels("user")).not.toContain("Invites");
    expect(labels("user")).toContain("Robots");
    expect(labels("admin")).toEqual(expect.arrayContaining(["Audit log", "Invites", "API keys"]));
    expect(visibleNav(null).flatMap((group) => group.items.map((item) => item.label))).not.toContain(
      "API keys",
    );
  });

  it("mirrors the server's rules: only owners rename the tenant; members create chatgroups but not teams", () => {
    expect(can("owner", "tenant.update")).toBe(true);
    expect(can("admin", "tenant.update")).toBe(false);
    expect(can("user", "chatgroups.create")).toBe(true);
    expect(can("user", "teams.write")).toBe(false);
    expect(can(null, "chatgroups.create")).toBe(false);
    expect(scopesFor("user")).not.toContain("audit:read");
    expect(scopesFor("admin")).toContain("audit:read");
  });
});
