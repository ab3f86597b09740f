import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { ensureRoles } from "../src/migrate.js";

// Two migrations (a test run and the fault suite beside it, two migrate jobs) may restate
// the roles at the same moment; Postgres refuses concurrent changes of one role.
describe("roles", () => {
  it("can be ensured by several sessions at once", async () => {
    const maintenance = new URL(inject("perseusAdminUrl"));
    maintenance.pathname = "/postgres";
    for (let round = 0; round < 10; round++) {
      const clients = Array.from(
        { length: 4 },
        () => new pg.Client({ connectionString: maintenance.toString() }),
      );
      await Promise.all(clients.map((client) => client.connect()));
      try {
        const results = await Promise.allSettled(clients.map((client) => ensureRoles(client, {})));
        expect(results.filter((result) => result.status === "rejected")).toEqual([]);
      } finally {
        await Promise.all(clients.map((client) => client.end()));
      }
    }
  });
});
