import { schema, withTenant } from "@perseus/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  API,
  bearer,
  createHarness,
  type Harness,
  type SeededTenant,
  seedRobot,
  seedTenant,
} from "./helper.js";

let h: Harness;
let t: SeededTenant;
beforeAll(async () => {
  h = await createHarness();
  t = await seedTenant(h.app);
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

const config = {
  executor: "command",
  commands: [{ name: "claude", template: "claude -p {prompt}" }],
  allow: ["git *"],
  deny: ["rm -rf *"],
  modelProfiles: [{ name: "default", provider: "anthropic", model: "claude-sonnet" }],
  limits: { maxRuntimeSeconds: 600, maxOutputBytes: 100000 },
};

describe("robots", () => {
  it("creates with scopes, lists, gets, updates; a handle clash is 409 with no constraint name", async () => {
    const created = await call("POST", "/robots", t.owner.token, {
      handle: "jane",
      name: "Jane",
      capabilities: ["shell", "fs"],
      maxConcurrency: 2,
      scopes: { tenant: false, teamIds: [t.teamId], chatgroupIds: [t.chatgroupId] },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({
      handle: "jane",
      scopes: { tenant: false, teamIds: [t.teamId], chatgroupIds: [t.chatgroupId] },
    });
    const clash = await call("POST", "/robots", t.admin.token, { handle: "jane", name: "Other" });
    expect(clash.statusCode).toBe(409);
    expect(clash.body).not.toMatch(/robots_tenant|_unique|_key|constraint/i);
    const id = created.json().id;
    const updated = await call("PATCH", `/robots/${id}`, t.admin.token, {
      name: "Jane Doe",
      scopes: { tenant: true },
    });
    expect(updated.json()).toMatchObject({
      name: "Jane Doe",
      scopes: { tenant: true, teamIds: [], chatgroupIds: [] },
    });
    const listed = await call("GET", "/robots", t.user.token);
    expect(listed.json().items.map((r: { id: string }) => r.id)).toContain(id);
    expect((await call("POST", "/robots", t.user.token, { handle: "nope", name: "N" })).statusCode).toBe(403);
    // A member's handle cannot become a robot's (mentions must stay unambiguous).
    const memberHandle = t.owner.session.user.handle;
    expect(
      (await call("POST", "/robots", t.owner.token, { handle: memberHandle, name: "X" })).statusCode,
    ).toBe(409);
  });

  it("central configuration: validated, versioned, announced, secrets refused", async () => {
    const { robot } = await seedRobot(h.app, t.owner.token);
    const initial = await call("GET", `/robots/${robot.id}/config`, t.user.token);
    expect(initial.json().version).toBe(1);
    const put = await call("PUT", `/robots/${robot.id}/config`, t.owner.token, {
      settings: config,
      expectedVersion: 1,
    });
    expect(put.statusCode).toBe(200);
    expect(put.json().version).toBe(2);
    const stale = await call("PUT", `/robots/${robot.id}/config`, t.owner.token, {
      settings: config,
      expectedVersion: 1,
    });
    expect(stale.statusCode).toBe(412);
    const secret = await call("PUT", `/robots/${robot.id}/config`, t.owner.token, {
      settings: {
        ...config,
        modelProfiles: [{ name: "x", provider: "openai", model: "gpt", apiKey: "sk-123" }],
      },
    });
    expect(secret.statusCode).toBe(400);
    const badExecutor = await call("PUT", `/robots/${robot.id}/config`, t.owner.token, {
      settings: { executor: "rm" },
    });
    expect(badExecutor.statusCode).toBe(400);
    const events = await withTenant(h.database.db, { tenantId: t.tenantId }, (tx) =>
      tx.select().from(schema.outbox),
    );
    expect(events.map((e) => (e.envelope as { type: string }).type)).toContain("robot.config_changed");
  });

  it("credentials: shown once as prc_<tenant>_<id>_<secret>, hashed, several active, one revocable", async () => {
    const { robot, secret, credentialId } = await seedRobot(h.app, t.owner.token);
    expect(secret).toMatch(new RegExp(`^prc_${t.tenantId}_${credentialId}_[A-Za-z0-9_-]{43}$`));
    const second = await call("POST", `/robots/${robot.id}/credentials`, t.owner.token);
    const secondSecret = second.json().secret;
    const stored = await withTenant(h.database.db, { tenantId: t.tenantId }, (tx) =>
      tx.select().from(schema.robotCredentials),
    );
    expect(JSON.stringify(stored)).not.toContain(secret.slice(-43));
    const exchange = (credential: string) =>
      h.app.inject({ method: "POST", url: `${API}/robots/token`, payload: { credential } });
    expect((await exchange(secret)).statusCode).toBe(200);
    expect((await exchange(secondSecret)).statusCode).toBe(200);
    const token = (await exchange(secret)).json().accessToken;
    const revoked = await call("DELETE", `/robots/${robot.id}/credentials/${credentialId}`, t.owner.token);
    expect(revoked.statusCode).toBe(204);
    expect((await exchange(secret)).statusCode).toBe(401);
    expect((await exchange(secondSecret)).statusCode).toBe(200);
    // The revoked credential's tokens die with it.
    expect((await call("GET", "/robot/me", token)).statusCode).toBe(401);
    const listed = await call("GET", `/robots/${robot.id}/credentials`, t.admin.token);
    expect(listed.json().items).toHaveLength(2);
    expect(listed.body).not.toContain(secret.slice(-43));
  });

  it("token exchange: every bad credential is the same 401", async () => {
    const { secret } = await seedRobot(h.app, t.owner.token);
    const bodies = new Set<string>();
    for (const credential of [
      "garbage",
      `${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`,
      secret.replace(/^prc_[0-9a-f-]{36}/, "prc_00000000-0000-0000-0000-000000000000"),
      secret.replace(/^prc_/, "pak_"),
      "prc_zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz_zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ]) {
      const response = await h.app.inject({
        method: "POST",
        url: `${API}/robots/token`,
        payload: { credential },
        headers: { "x-request-id": "same-id" },
      });
      expect(response.statusCode).toBe(401);
      bodies.add(response.body);
    }
    expect(bodies.size).toBe(1);
  });

  it("revoking a robot kills its tokens and credentials, publishes principal.revoked; robot tokens cannot call user routes", async () => {
    const { robot, secret, token } = await seedRobot(h.app, t.owner.token);
    const self = await call("GET", "/robot/me", token);
    expect(self.statusCode).toBe(200);
    expect(self.json().robot.id).toBe(robot.id);
    expect((await call("GET", "/robots", token)).statusCode).toBe(403);
    expect((await call("GET", "/me", token)).statusCode).toBe(403);
    const revoked = await call("POST", `/robots/${robot.id}/revoke`, t.admin.token);
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json().revokedAt).not.toBeNull();
    expect((await call("GET", "/robot/me", token)).statusCode).toBe(401);
    expect(
      (await h.app.inject({ method: "POST", url: `${API}/robots/token`, payload: { credential: secret } }))
        .statusCode,
    ).toBe(401);
    const events = await withTenant(h.database.db, { tenantId: t.tenantId }, (tx) =>
      tx.select().from(schema.outbox),
    );
    expect(
      events.some((e) => {
        const env = e.envelope as { type: string; payload: { id: string } };
        return env.type === "principal.revoked" && env.payload.id === robot.id;
      }),
    ).toBe(true);
    expect((await call("POST", `/robots/${robot.id}/credentials`, t.owner.token)).statusCode).toBe(409);
  });
});
