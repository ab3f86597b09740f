import { authRoutes } from "@perseus/contracts";
import { sql, withTenant } from "@perseus/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedWorld, type World } from "./fixtures.js";
import { API, bearer, createHarness, type Harness } from "./helper.js";

let h: Harness;
let w: World;
beforeAll(async () => {
  h = await createHarness();
  w = await seedWorld(h.app);
});
afterAll(async () => {
  await h?.close();
});

const audit = (query: string, token = w.owner.token) =>
  h.app.inject({ method: "GET", url: `${API}/audit${query}`, headers: bearer(token) });

describe("audit", () => {
  it("mutations write audit rows with actor, target, ip and request id", async () => {
    const created = await h.app.inject({
      method: "POST",
      url: `${API}/teams`,
      headers: { ...bearer(w.admin.token), "x-request-id": "audit-req-1" },
      payload: { name: "Audited" },
    });
    const rows = (await audit("?action=team.created&limit=200")).json().items;
    const row = rows.find((r: { targetId: string }) => r.targetId === created.json().id);
    expect(row).toMatchObject({
      actorType: "user",
      actorId: w.admin.session.user.id,
      action: "team.created",
      targetType: "team",
      requestId: "audit-req-1",
      ip: "127.0.0.1",
    });
    const actions = new Set(
      (await audit("?limit=200")).json().items.map((r: { action: string }) => r.action),
    );
    for (const action of [
      "tenant.created",
      "tenant.renamed",
      "invite.created",
      "invite.accepted",
      "robot.created",
      "robot.updated",
      "robot.credential_created",
      "robot.token_issued",
      "api_key.created",
      "chatgroup.created",
      "session.started",
    ])
      expect(actions, action).toContain(action);
  });

  it("filters by action, actor and time range; pages with a cursor, newest first", async () => {
    const byActor = (await audit(`?actorId=${w.admin.session.user.id}&limit=200`)).json().items;
    expect(byActor.length).toBeGreaterThan(0);
    expect(byActor.every((r: { actorId: string }) => r.actorId === w.admin.session.user.id)).toBe(true);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await audit(`?from=${encodeURIComponent(future)}`)).json().items).toEqual([]);
    const first = (await audit("?limit=3")).json();
    expect(first.items).toHaveLength(3);
    const second = (await audit(`?limit=3&cursor=${first.nextCursor}`)).json();
    expect(second.items[0].seq).toBe(first.items[2].seq - 1);
    expect((await audit("?cursor=garbage")).json().items).toEqual([]);
  });

  it("chain verification is clean (endpoint and perseus_audit_verify), and only owners/admins read", async () => {
    const verify = await h.app.inject({
      method: "GET",
      url: `${API}/audit/verify`,
      headers: bearer(w.admin.token),
    });
    expect(verify.json()).toEqual({ ok: true, problems: [] });
    const broken = await withTenant(h.database.db, { tenantId: w.tenantId }, (tx) =>
      tx.execute(sql`select * from perseus_audit_verify()`),
    );
    expect(broken.rows).toEqual([]);
    expect((await audit("", w.user.token)).statusCode).toBe(403);
  });

  it("OpenAPI documents every route with a summary and tags", async () => {
    const doc = (await h.app.inject({ method: "GET", url: `${API}/openapi.json` })).json();
    const operations = Object.values(
      doc.paths as Record<string, Record<string, { summary?: string; tags?: string[]; operationId: string }>>,
    )
      .flatMap((methods) => Object.values(methods))
      .filter((op) => op.operationId && Object.hasOwn(authRoutes, op.operationId));
    expect(new Set(operations.map((op) => op.operationId)).size).toBe(Object.keys(authRoutes).length);
    for (const op of operations) {
      expect(op.summary, op.operationId).toBeTruthy();
      expect(op.tags?.length, op.operationId).toBeGreaterThan(0);
    }
  });
});
