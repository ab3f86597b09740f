import { createTenant, createTestDatabase, type TestDatabase } from "@perseus/testing";
import { eq } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  assertRlsEnforced,
  createDb,
  createPool,
  findRlsViolations,
  pgErrorCode,
  schema,
  withTenant,
} from "../src/index.js";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.drop();
});

describe("T1 RLS guard", () => {
  it("finds no table with tenant_id lacking forced RLS or a tenant policy", async () => {
    expect(await findRlsViolations(t.pool)).toEqual([]);
  });

  it("can fail: a table without forced RLS, one without a policy and an undeclared global table are reported", async () => {
    const owner = new pg.Client({ connectionString: t.ownerUrl });
    await owner.connect();
    try {
      await owner.query("CREATE TABLE guard_probe_a (tenant_id uuid NOT NULL, v text)");
      await owner.query("CREATE TABLE guard_probe_b (tenant_id uuid NOT NULL, v text)");
      await owner.query("ALTER TABLE guard_probe_b ENABLE ROW LEVEL SECURITY");
      await owner.query("ALTER TABLE guard_probe_b FORCE ROW LEVEL SECURITY");
      await owner.query("CREATE TABLE guard_probe_c (v text)");
      const violations = await findRlsViolations(owner);
      expect(violations).toEqual(
        expect.arrayContaining([
          { table: "guard_probe_a", problem: "row-level security not enabled" },
          { table: "guard_probe_a", problem: "row-level security not forced" },
          { table: "guard_probe_a", problem: "no policy" },
          { table: "guard_probe_b", problem: "no policy" },
          { table: "guard_probe_c", problem: "no tenant_id column and not declared global" },
        ]),
      );
      await owner.query("DROP TABLE guard_probe_a, guard_probe_b, guard_probe_c");
    } finally {
      await owner.end();
    }
  });

  it("the application role is neither superuser, BYPASSRLS nor owner", async () => {
    const report = await assertRlsEnforced(t.pool);
    expect(report).toMatchObject({
      role: "perseus_app",
      isSuperuser: false,
      bypassesRls: false,
      ownedTables: [],
    });
  });

  it("refuses a superuser and the owner role with a clear message", async () => {
    for (const url of [t.adminUrl, t.ownerUrl]) {
      const pool = createPool({ url, max: 1 });
      await expect(assertRlsEnforced(pool)).rejects.toThrow(
        /refusing to start: database role "\w+" bypasses row-level security/,
      );
      await pool.end();
    }
  });
});

describe("tenant context", () => {
  it("shows only the current tenant's rows and rejects writes into another tenant", async () => {
    const a = await createTenant(t.db);
    const b = await createTenant(t.db);
    const seen = await withTenant(t.db, { tenantId: a.tenantId }, (tx) => tx.select().from(schema.teams));
    expect(seen.map((r) => r.tenantId)).toEqual([a.tenantId]);
    await expect(
      withTenant(t.db, { tenantId: a.tenantId }, (tx) =>
        tx.insert(schema.teams).values({ tenantId: b.tenantId, id: crypto.randomUUID(), name: "sneaky" }),
      ),
    ).rejects.toThrow();
    const updated = await withTenant(t.db, { tenantId: a.tenantId }, (tx) =>
      tx.update(schema.teams).set({ name: "renamed" }).where(eq(schema.teams.id, b.teamId)).returning(),
    );
    expect(updated).toEqual([]);
  });

  it("a query with no tenant context sees no rows", async () => {
    await createTenant(t.db);
    expect(await t.db.select().from(schema.teams)).toEqual([]);
    expect(await t.db.select().from(schema.chatgroups)).toEqual([]);
  });

  it("T3: context never leaks through a small pool with failing transactions", async () => {
    const pool = createPool({ url: t.url, max: 2 });
    const db = createDb(pool);
    const tenants = await Promise.all([createTenant(t.db), createTenant(t.db), createTenant(t.db)]);
    let mismatches = 0;
    let failures = 0;
    const rounds = 2_000;
    await Promise.all(
      Array.from({ length: rounds }, async (_, i) => {
        const tenant = tenants[i % tenants.length]!;
        try {
          await withTenant(db, { tenantId: tenant.tenantId }, async (tx) => {
            const rows = await tx.select({ tenantId: schema.teams.tenantId }).from(schema.teams);
            if (rows.length !== 1 || rows[0]?.tenantId !== tenant.tenantId) mismatches++;
            if (i % 10 === 3) throw new Error("fail after setting context");
          });
        } catch {
          failures++;
        }
        if (i % 50 === 0) {
          const bare = await db.select().from(schema.teams);
          if (bare.length !== 0) mismatches++;
        }
      }),
    );
    await pool.end();
    expect(failures).toBe(rounds / 10);
    expect(mismatches).toBe(0);
  });
});

describe("audit trail", () => {
  it("is append-only for the application role and hash-chained", async () => {
    const a = await createTenant(t.db);
    await withTenant(t.db, { tenantId: a.tenantId }, async (tx) => {
      for (const action of ["one", "two", "three"]) {
        await tx.insert(schema.auditEvents).values({ tenantId: a.tenantId, actorType: "user", action });
      }
    });
    const verify = () =>
      withTenant(
        t.db,
        { tenantId: a.tenantId },
        async (tx) => (await tx.execute("select * from perseus_audit_verify()")).rows,
      );
    expect(await verify()).toEqual([]);
    const insufficientPrivilege = (error: unknown) => pgErrorCode(error) === "42501";
    await expect(
      withTenant(t.db, { tenantId: a.tenantId }, (tx) =>
        tx.update(schema.auditEvents).set({ action: "forged" }),
      ),
    ).rejects.toSatisfy(insufficientPrivilege);
    await expect(
      withTenant(t.db, { tenantId: a.tenantId }, (tx) => tx.delete(schema.auditEvents)),
    ).rejects.toSatisfy(insufficientPrivilege);
    // Tampering by the owner (bypassing the app role) is detected by verification.
    const owner = new pg.Client({ connectionString: t.adminUrl });
    await owner.connect();
    await owner.query("UPDATE audit_events SET action = 'forged' WHERE tenant_id = $1 AND seq = 2", [
      a.tenantId,
    ]);
    await owner.end();
    expect(await verify()).toEqual([{ seq: "2", problem: "hash mismatch" }]);
  });
});
