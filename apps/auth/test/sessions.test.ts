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
  refreshCookieOf,
  signup,
} from "./helper.js";

let h: Harness;
beforeAll(async () => {
  h = await createHarness({
    AUTH_LOCKOUT_THRESHOLD: "3",
    AUTH_LOCKOUT_SECONDS: "60",
    AUTH_REFRESH_GRACE_SECONDS: "10",
  });
});
afterAll(async () => {
  await h?.close();
});

const refresh = (value: string) =>
  h.app.inject({ method: "POST", url: `${API}/refresh`, headers: cookieHeader(value) });
const me = (token: string) => h.app.inject({ method: "GET", url: `${API}/me`, headers: bearer(token) });

describe("sign-up", () => {
  it("creates tenant, owner, General team and general chatgroup in one go, with audit rows", async () => {
    const { session, refresh: cookie } = await signup(h.app);
    expect(session.tenant.role).toBe("owner");
    expect(cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const rows = await withTenant(h.database.db, { tenantId: session.tenant.id }, async (tx) => ({
      teams: await tx.select().from(schema.teams),
      chatgroups: await tx.select().from(schema.chatgroups),
      members: await tx.select().from(schema.teamMembers),
      audit: await tx.select().from(schema.auditEvents),
      outbox: await tx.select().from(schema.outbox),
    }));
    expect(rows.teams.map((t) => [t.id, t.name])).toEqual([[session.teamId, "General"]]);
    expect(rows.chatgroups.map((c) => [c.id, c.name, c.visibility])).toEqual([
      [session.chatgroupId, "general", "team"],
    ]);
    expect(rows.members.map((m) => m.userId)).toEqual([session.user.id]);
    expect(rows.audit.map((a) => a.action)).toEqual(
      expect.arrayContaining(["tenant.created", "user.signed_up", "team.created", "chatgroup.created"]),
    );
    expect(rows.outbox.length).toBeGreaterThanOrEqual(2);
    const who = await me(session.accessToken);
    expect(who.statusCode).toBe(200);
    expect(who.json().memberships).toEqual([
      { id: session.tenant.id, name: session.tenant.name, role: "owner" },
    ]);
  });

  it("sets the refresh cookie httpOnly, SameSite=Strict, Secure, scoped to /api/auth", async () => {
    const response = await h.app.inject({
      method: "POST",
      url: `${API}/signup`,
      payload: {
        email: "cookie-check@example.test",
        password: PASSWORD,
        name: "C",
        handle: "cookiecheck",
        tenantName: "T",
      },
    });
    const header = String(response.headers["set-cookie"]);
    expect(header).toMatch(/HttpOnly/);
    expect(header).toMatch(/SameSite=Strict/);
    expect(header).toMatch(/Secure/);
    expect(header).toMatch(/Path=\/api\/auth/);
  });

  it("refuses a second account with the same email (any case), without a constraint name", async () => {
    const first = await signup(h.app);
    const again = await h.app.inject({
      method: "POST",
      url: `${API}/signup`,
      payload: { ...first.body, email: first.body.email.toUpperCase() },
    });
    expect(again.statusCode).toBe(409);
    expect(again.body).not.toMatch(/users_email|_key|constraint/i);
  });

  it("validates the body with field paths", async () => {
    const response = await h.app.inject({ method: "POST", url: `${API}/signup`, payload: { email: "x" } });
    expect(response.statusCode).toBe(400);
    expect(response.headers["content-type"]).toMatch(/application\/problem\+json/);
  });
});

describe("login", () => {
  it("signs in and answers the same for unknown email and wrong password", async () => {
    const { body } = await signup(h.app);
    const ok = await login(h.app, body.email);
    expect(ok.response.statusCode).toBe(200);
    expect(refreshCookieOf(ok.response)).toBeTruthy();
    const wrong = await login(h.app, body.email, "wrong password!!");
    const unknown = await login(h.app, "nobody-here@example.test", "wrong password!!");
    expect(wrong.response.statusCode).toBe(401);
    expect(unknown.response.statusCode).toBe(401);
    const strip = (text: string) => ({ ...JSON.parse(text), requestId: undefined });
    expect(strip(wrong.response.body)).toEqual(strip(unknown.response.body));
  });

  it("locks the account after repeated failures, even for the right password, then lets it in after", async () => {
    const { body, session } = await signup(h.app);
    for (let i = 0; i < 3; i++)
      expect((await login(h.app, body.email, "bad password 123")).response.statusCode).toBe(401);
    expect((await login(h.app, body.email)).response.statusCode).toBe(401);
    const [user] = await h.database.db.select().from(schema.users).where(eqId(session.user.id));
    expect(user?.failedLogins).toBe(3);
    expect(user?.lockedUntil?.getTime()).toBeGreaterThan(Date.now() + 30_000);
    // Unlock by time: move the lock into the past.
    await h.database.db
      .update(schema.users)
      .set({ lockedUntil: new Date(Date.now() - 1000) })
      .where(eqId(session.user.id));
    expect((await login(h.app, body.email)).response.statusCode).toBe(200);
    const [after] = await h.database.db.select().from(schema.users).where(eqId(session.user.id));
    expect(after?.failedLogins).toBe(0);
  });
});

describe("refresh", () => {
  it("rotates on every use; the new cookie works, the access token carries the same session", async () => {
    const { refresh: first, session } = await signup(h.app);
    const r1 = await refresh(first);
    expect(r1.statusCode).toBe(200);
    const second = refreshCookieOf(r1) as string;
    expect(second).not.toBe(first);
    expect(r1.json().sessionId).toBe(session.sessionId);
    const r2 = await refresh(second);
    expect(r2.statusCode).toBe(200);
    expect((await me(r2.json().accessToken)).statusCode).toBe(200);
  });

  it("T7 sequential: reuse of a rotated credential (after grace) revokes the whole family", async () => {
    const { refresh: first, session } = await signup(h.app);
    const r1 = await refresh(first);
    const second = refreshCookieOf(r1) as string;
    const r2 = await refresh(second);
    const r3 = await refresh(refreshCookieOf(r2) as string);
    expect(r3.statusCode).toBe(200);
    const fourth = refreshCookieOf(r3) as string;
    // `second` was rotated and its successor used since: presenting it again is theft.
    expect((await refresh(second)).statusCode).toBe(401);
    expect((await refresh(fourth)).statusCode).toBe(401);
    // The session's access tokens die too.
    expect((await me(r3.json().accessToken)).statusCode).toBe(401);
    expect((await me(session.accessToken)).statusCode).toBe(401);
  });

  it("T7 grace: a retry with the just-rotated credential succeeds once, then is reuse", async () => {
    const { refresh: first } = await signup(h.app);
    const r1 = await refresh(first);
    expect(r1.statusCode).toBe(200);
    const lost = refreshCookieOf(r1) as string; // the client never saw this one
    const retry = await refresh(first);
    expect(retry.statusCode).toBe(200);
    const replacement = refreshCookieOf(retry) as string;
    // The replacement works; the lost successor was revoked, and presenting it is reuse.
    const next = await refresh(replacement);
    expect(next.statusCode).toBe(200);
    expect((await refresh(lost)).statusCode).toBe(401);
    expect((await refresh(refreshCookieOf(next) as string)).statusCode).toBe(401);
  });

  it("T7 grace once: the second retry of the same credential revokes the family", async () => {
    const { refresh: first } = await signup(h.app);
    await refresh(first);
    const retry = await refresh(first);
    expect(retry.statusCode).toBe(200);
    const current = refreshCookieOf(retry) as string;
    expect((await refresh(first)).statusCode).toBe(401);
    expect((await refresh(current)).statusCode).toBe(401);
  });

  it("T7 concurrent: five parallel uses give one rotation, one grace retry, and a revoked family", async () => {
    const { refresh: first } = await signup(h.app);
    const results = await Promise.all(Array.from({ length: 5 }, () => refresh(first)));
    const ok = results.filter((r) => r.statusCode === 200);
    // Serialised on the credential's row lock: rotation, the one grace retry, then reuse.
    expect(ok.length).toBe(2);
    expect(results.filter((r) => r.statusCode === 401).length).toBe(5 - ok.length);
    for (const response of ok)
      expect((await refresh(refreshCookieOf(response) as string)).statusCode).toBe(401);
  });

  it("refuses garbage and missing cookies with 401 problem+json", async () => {
    expect((await refresh("nope")).statusCode).toBe(401);
    const none = await h.app.inject({ method: "POST", url: `${API}/refresh` });
    expect(none.statusCode).toBe(401);
    expect(none.headers["content-type"]).toMatch(/problem\+json/);
  });
});

describe("logout, switch tenant", () => {
  it("logout ends the session: refresh and access token refused", async () => {
    const { refresh: cookie, token } = await signup(h.app);
    const out = await h.app.inject({ method: "POST", url: `${API}/logout`, headers: cookieHeader(cookie) });
    expect(out.statusCode).toBe(204);
    expect((await refresh(cookie)).statusCode).toBe(401);
    expect((await me(token)).statusCode).toBe(401);
  });

  it("logout everywhere ends every session of the user", async () => {
    const { body, token } = await signup(h.app);
    const other = await login(h.app, body.email);
    const otherCookie = refreshCookieOf(other.response) as string;
    const out = await h.app.inject({ method: "POST", url: `${API}/logout-all`, headers: bearer(token) });
    expect(out.statusCode).toBe(204);
    expect((await me(other.session?.accessToken as string)).statusCode).toBe(401);
    expect((await refresh(otherCookie)).statusCode).toBe(401);
    expect((await login(h.app, body.email)).response.statusCode).toBe(200);
  });

  it("switches to another tenant of the user, and refuses a foreign one", async () => {
    const a = await signup(h.app);
    const b = await signup(h.app);
    const invite = await h.app.inject({
      method: "POST",
      url: `${API}/invites`,
      headers: bearer(b.token),
      payload: {},
    });
    const accepted = await h.app.inject({
      method: "POST",
      url: `${API}/invites/accept`,
      headers: bearer(a.token),
      payload: { token: invite.json().token },
    });
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json().tenant).toMatchObject({ id: b.session.tenant.id, role: "user" });
    const back = await h.app.inject({
      method: "POST",
      url: `${API}/switch-tenant`,
      headers: bearer(accepted.json().accessToken),
      payload: { tenantId: a.session.tenant.id },
    });
    expect(back.statusCode).toBe(200);
    expect(back.json().tenant).toMatchObject({ id: a.session.tenant.id, role: "owner" });
    const mine = await me(back.json().accessToken);
    expect(
      mine
        .json()
        .memberships.map((m: { id: string }) => m.id)
        .sort(),
    ).toEqual([a.session.tenant.id, b.session.tenant.id].sort());
    // The refresh credential now follows the switched tenant.
    const refreshed = await refresh(a.refresh);
    expect(refreshed.json().tenant.id).toBe(a.session.tenant.id);
    const c = await signup(h.app);
    const foreign = await h.app.inject({
      method: "POST",
      url: `${API}/switch-tenant`,
      headers: bearer(a.token),
      payload: { tenantId: c.session.tenant.id },
    });
    expect(foreign.statusCode).toBe(404);
  });
});

import { eq } from "drizzle-orm";

function eqId(id: string) {
  return eq(schema.users.id, id);
}
