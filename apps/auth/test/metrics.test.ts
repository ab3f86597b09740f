import { schema, withTenant } from "@perseus/db";
import { scrapeMetrics } from "@perseus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, type Harness, seedRobot, seedTenant } from "./helper.js";

let harness: Harness;
beforeAll(async () => {
  harness = await createHarness();
});
afterAll(async () => {
  await harness?.close();
});

describe("auth metrics", () => {
  it("reports the identity outbox backlog while no relay runs", async () => {
    const { app, database } = harness;
    const tenant = await seedTenant(app);
    const { robot } = await seedRobot(app, tenant.owner.token);
    const revoked = await app.inject({
      method: "POST",
      url: `/api/auth/robots/${robot.id}/revoke`,
      headers: { authorization: `Bearer ${tenant.owner.token}` },
    });
    expect(revoked.statusCode).toBeLessThan(300);

    const rows = await withTenant(database.db, { tenantId: tenant.tenantId }, async (tx) =>
      (await tx.select({ topic: schema.outbox.topic }).from(schema.outbox)).filter(
        (row) => row.topic === "identity",
      ),
    );
    expect(rows.length).toBeGreaterThanOrEqual(1);
    await expect
      .poll(async () => (await scrapeMetrics(app)).value("perseus_outbox_backlog", { topic: "identity" }), {
        timeout: 30_000,
        interval: 250,
      })
      .toBe(rows.length);
    const scrape = await scrapeMetrics(app);
    expect(scrape.value("perseus_outbox_oldest_age_seconds", { topic: "identity" })).toBeGreaterThanOrEqual(
      0,
    );
    expect(scrape.value("perseus_metrics_collect_failures_total", { collector: "outbox" })).toBe(0);
    expect(scrape.names().filter((name) => !name.startsWith("perseus_"))).toEqual([]);
  });
});
