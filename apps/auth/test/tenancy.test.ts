import { schema, withTenant } from "@perseus/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  API,
  bearer,
  cookieHeader,
  createHarness,
  type Harness,
  login,
  PASSWORD,
  seedTenant,
  signup,
  uniqueTag,
} from "./helper.js";

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const call = (
  method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE",
  path: string,
  token: string,
  payload?: unknown,
) =>
  h.app.inject({
    method,
    url: `${API}${path}`,
    headers: bearer(token),
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
const outboxTypes = (tenantId: string) =>
  withTenant(h.database.db, { tenantId }, async (tx) =>
    (await tx.select().from(schema.outbox)).map(
      (row) => row.envelope as { type: string; payload: Record<string, unknown> },
    ),
  );

describe("teams and chatgroups", () => {
  it("create, rename, archive, list; members added and removed with membership.changed events", async () => {
    const t = await seedTenant(h.app);
    const team = await call("POST", "/teams", t.admin.token, { name: "Platform" });
    expect(team.statusCode).toBe(201);
    const teamId = team.json().id;
    expect(
      (await call("PATCH", `/teams/${teamId}`, t.admin.token, { name: "Platform team" })).json().name,
    ).toBe("Platform team");
    // A plain user does not see a team they are not in.
    expect((await call("GET", `/teams/${teamId}`, t.user.token)).statusCode).toBe(404);
    expect(
      (await call("PUT", `/teams/${teamId}/members/${t.user.session.user.id}`, t.admin.token)).statusCode,
    ).toBe(204);
    expect((await call("GET", `/teams/${teamId}`, t.user.token)).statusCode).toBe(200);
    const members = await call("GET", `/teams/${teamId}/members`, t.user.token);
    expect(members.json().items.map((m: { userId: string }) => m.userId)).toContain(t.user.session.user.id);
    // A user may create a chatgroup in their team; a private one has explicit members.
    const group = await call("POST", "/chatgroups", t.user.token, {
      teamId,
      name: "secret",
      visibility: "private",
    });
    expect(group.statusCode).toBe(201);
    const groupId = group.json().id;
    const explicit = await call("GET", `/chatgroups/${groupId}/members`, t.user.token);
    expect(explicit.json().items.map((m: { userId: string }) => m.userId)).toEqual([t.user.session.user.id]);
    expect(
      (await call("PUT", `/chatgroups/${groupId}/members/${t.owner.session.user.id}`, t.admin.token))
        .statusCode,
    ).toBe(204);
    expect(
      (await call("DELETE", `/chatgroups/${groupId}/members/${t.owner.session.user.id}`, t.admin.token))
        .statusCode,
    ).toBe(204);
    expect((await call("POST", `/chatgroups/${groupId}/archive`, t.admin.token)).json().archived).toBe(true);
    const listed = await call("GET", "/chatgroups?includeArchived=true", t.user.token);
    expect(listed.json().items.map((c: { id: string }) => c.id)).toContain(groupId);
    expect(
      (await call("GET", "/chatgroups", t.user.token)).json().items.map((c: { id: string }) => c.id),
    ).not.toContain(groupId);
    expect(
      (await call("DELETE", `/teams/${teamId}/members/${t.user.session.user.id}`, t.admin.token)).statusCode,
    ).toBe(204);
    expect((await call("POST", `/teams/${teamId}/archive`, t.admin.token)).json().archived).toBe(true);
    const events = await outboxTypes(t.tenantId);
    const scopes = events.filter((e) => e.type === "membership.changed").map((e) => e.payload.scope);
    expect(scopes).toEqual(expect.arrayContaining(["tenant", "team", "chatgroup"]));
    expect((await call("POST", "/teams", t.user.token, { name: "Nope" })).statusCode).toBe(403);
  });
});

describe("memberships and roles", () => {
  it("role change revokes the user's access tokens; a refresh gives the new role", async () => {
    const t = await seedTenant(h.app);
    const promoted = await call("PATCH", `/members/${t.user.session.user.id}`, t.admin.token, {
      role: "admin",
    });
    expect(promoted.statusCode).toBe(200);
    expect(promoted.json().role).toBe("admin");
    expect((await call("GET", "/me", t.user.token)).statusCode).toBe(401);
    const refreshed = await h.app.inject({
      method: "POST",
      url: `${API}/refresh`,
      headers: cookieHeader(t.user.refresh),
    });
    expect(refreshed.statusCode).toBe(200);
    expect(refreshed.json().tenant.role).toBe("admin");
    // Admins never touch owners or hand out ownership.
    expect(
      (await call("PATCH", `/members/${t.owner.session.user.id}`, t.admin.token, { role: "user" }))
        .statusCode,
    ).toBe(403);
    expect(
      (await call("PATCH", `/members/${t.user.session.user.id}`, t.admin.token, { role: "owner" }))
        .statusCode,
    ).toBe(403);
  });

  it("the last owner cannot leave, be removed, disabled or demoted (409); after a transfer they can", async () => {
    const t = await seedTenant(h.app);
    const ownerId = t.owner.session.user.id;
    expect((await call("PATCH", `/members/${ownerId}`, t.owner.token, { role: "admin" })).statusCode).toBe(
      409,
    );
    expect((await call("POST", "/tenant/leave", t.owner.token)).statusCode).toBe(409);
    expect((await call("DELETE", `/members/${ownerId}`, t.owner.token)).statusCode).toBe(409);
    const transfer = await call("POST", "/tenant/transfer-ownership", t.owner.token, {
      userId: t.admin.session.user.id,
    });
    expect(transfer.statusCode).toBe(204);
    const newOwner = await login(h.app, t.admin.email);
    expect(newOwner.session?.tenant.role).toBe("owner");
    const oldOwner = await login(h.app, t.owner.email);
    expect(oldOwner.session?.tenant.role).toBe("admin");
    expect((await call("POST", "/tenant/leave", oldOwner.session?.accessToken as string)).statusCode).toBe(
      204,
    );
    expect((await login(h.app, t.owner.email)).response.statusCode).toBe(403);
  });

  it("removing a member cuts their access and revokes API keys they created", async () => {
    const t = await seedTenant(h.app);
    await call("PATCH", `/members/${t.user.session.user.id}`, t.owner.token, { role: "admin" });
    const admin = (await login(h.app, t.user.email)).session?.accessToken as string;
    const key = await call("POST", "/api-keys", admin, { name: "ci", scopes: ["teams:read"] });
    expect(key.statusCode).toBe(201);
    const removed = await call("DELETE", `/members/${t.user.session.user.id}`, t.owner.token);
    expect(removed.statusCode).toBe(204);
    expect((await call("GET", "/me", admin)).statusCode).toBe(401);
    const byKey = await h.app.inject({
      method: "GET",
      url: `${API}/teams`,
      headers: { "x-api-key": key.json().key },
    });
    expect(byKey.statusCode).toBe(401);
    expect((await call("GET", `/members/${t.user.session.user.id}`, t.owner.token)).statusCode).toBe(404);
  });

  it("disabling a member ends every session at once; enabling lets them back in", async () => {
    const t = await seedTenant(h.app);
    const userId = t.user.session.user.id;
    expect(
      (await call("POST", `/members/${t.owner.session.user.id}/disable`, t.admin.token)).statusCode,
    ).toBe(403);
    const disabled = await call("POST", `/members/${userId}/disable`, t.admin.token);
    expect(disabled.json().disabled).toBe(true);
    expect((await call("GET", "/me", t.user.token)).statusCode).toBe(401);
    expect(
      (await h.app.inject({ method: "POST", url: `${API}/refresh`, headers: cookieHeader(t.user.refresh) }))
        .statusCode,
    ).toBe(401);
    expect((await login(h.app, t.user.email)).response.statusCode).toBe(403);
    expect((await call("POST", `/members/${userId}/enable`, t.admin.token)).json().disabled).toBe(false);
    const back = await login(h.app, t.user.email);
    expect(back.response.statusCode).toBe(200);
    const token = back.session?.accessToken as string;
    const listed = await call("GET", "/members?limit=2", token);
    expect(listed.json().items).toHaveLength(2);
    const next = await call("GET", `/members?limit=2&cursor=${listed.json().nextCursor}`, token);
    expect(next.json().items).toHaveLength(1);
    expect(next.json().nextCursor).toBeNull();
  });
});

describe("invites", () => {
  it("single use, expiring, email-bound when set, revocable; accept by signing up through it", async () => {
    const t = await seedTenant(h.app);
    const email = `invited-${uniqueTag()}@example.test`;
    const created = await call("POST", "/invites", t.admin.token, { role: "user", email, ttlHours: 1 });
    expect(created.statusCode).toBe(201);
    const { token, link, invite } = created.json();
    expect(link).toContain(`#${token}`);
    const stored = await withTenant(h.database.db, { tenantId: t.tenantId }, (tx) =>
      tx.select().from(schema.invites),
    );
    expect(JSON.stringify(stored)).not.toContain(token.slice(-43));
    const signupBody = {
      token,
      email: `other-${uniqueTag()}@example.test`,
      password: PASSWORD,
      name: "X",
      handle: `x${uniqueTag()}`,
    };
    expect(
      (await h.app.inject({ method: "POST", url: `${API}/invites/accept-signup`, payload: signupBody }))
        .statusCode,
    ).toBe(404);
    const ok = await h.app.inject({
      method: "POST",
      url: `${API}/invites/accept-signup`,
      payload: { ...signupBody, email },
    });
    expect(ok.statusCode).toBe(201);
    expect(ok.json().tenant).toMatchObject({ id: t.tenantId, role: "user" });
    const again = await h.app.inject({
      method: "POST",
      url: `${API}/invites/accept-signup`,
      payload: { ...signupBody, email: `third-${uniqueTag()}@example.test` },
    });
    expect(again.statusCode).toBe(404);
    const listed = await call("GET", "/invites", t.admin.token);
    expect(listed.json().items.find((i: { id: string }) => i.id === invite.id).status).toBe("accepted");
    const revokable = await call("POST", "/invites", t.admin.token, {});
    expect((await call("DELETE", `/invites/${revokable.json().invite.id}`, t.admin.token)).statusCode).toBe(
      204,
    );
    const other = await signup(h.app);
    const afterRevoke = await call("POST", "/invites/accept", other.token, { token: revokable.json().token });
    expect(afterRevoke.statusCode).toBe(404);
    expect((await call("POST", "/invites", t.user.token, {})).statusCode).toBe(403);
  });
});
