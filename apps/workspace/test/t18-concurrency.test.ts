import { sql, withTenant } from "@perseus/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, createHarness, createRobotTask, createWorld, type Harness } from "./helper.js";

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h?.close());

const TRIALS = 100;
const WRITERS = 50;

describe("T18: concurrent conditional updates", () => {
  it(`${WRITERS} concurrent writes with the same If-Match: exactly one wins, in each of ${TRIALS} trials`, async () => {
    const w = await createWorld(h);
    const task = await createRobotTask(h, w.tenantId, w.chatgroupId);
    const ref = { layer: "chatgroup" as const, layerId: w.chatgroupId };
    // People and the task's robot race each other.
    const writers = [client(h.app, w.ownerToken), client(h.app, task.taskToken)];
    const created = await writers[0]!.put(ref, "race.txt", "start");
    expect(created.statusCode).toBe(201);
    let etag = created.headers.etag as string;
    const outcomes: string[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const results = await Promise.all(
        Array.from({ length: WRITERS }, (_, i) =>
          writers[i % 5 === 0 ? 1 : 0]!.put(ref, "race.txt", `trial ${trial} writer ${i}`, {
            "if-match": etag,
          }),
        ),
      );
      const winners = results.filter((r) => r.statusCode === 200);
      const losers = results.filter((r) => r.statusCode === 412);
      outcomes.push(`${winners.length}/${losers.length}`);
      expect(winners.length, `trial ${trial}`).toBe(1);
      expect(losers.length, `trial ${trial}`).toBe(WRITERS - 1);
      const winner = winners[0]!;
      const body = (await writers[0]!.read(ref, "race.txt")).body;
      expect(body).toBe(`trial ${trial} writer ${results.indexOf(winner)}`);
      etag = winner.headers.etag as string;
    }
    expect(new Set(outcomes)).toEqual(new Set([`1/${WRITERS - 1}`]));
    // One version per winning write, and the version numbers have no gaps.
    const versions = await withTenant(h.db, { tenantId: w.tenantId }, (tx) =>
      tx.execute(sql`select max(version)::int as v from workspace_entries where path = 'race.txt'`),
    );
    expect(versions.rows[0]?.v).toBe(TRIALS + 1);
  }, 300_000);

  it("missing If-Match on overwrite, delete, move and restore → 428; nothing changes", async () => {
    const w = await createWorld(h);
    const c = client(h.app, w.ownerToken);
    const ref = { layer: "chatgroup" as const, layerId: w.chatgroupId };
    const created = await c.put(ref, "f.txt", "one");
    const etag = created.headers.etag as string;
    expect((await c.put(ref, "f.txt", "two", {})).statusCode).toBe(428);
    expect((await c.del(ref, "f.txt")).statusCode).toBe(428);
    expect((await c.move(ref, "f.txt", "g.txt")).statusCode).toBe(428);
    expect((await c.restore(ref, "f.txt", 1)).statusCode).toBe(428);
    expect((await c.copy(ref, { ...ref, path: "f.txt" }, "f.txt", {})).statusCode).toBe(428);
    const read = await c.read(ref, "f.txt");
    expect(read.body).toBe("one");
    expect(read.headers.etag).toBe(etag);
  });

  it("concurrent creates with If-None-Match: * → exactly one 201", async () => {
    const w = await createWorld(h);
    const c = client(h.app, w.ownerToken);
    const ref = { layer: "chatgroup" as const, layerId: w.chatgroupId };
    for (let trial = 0; trial < 10; trial++) {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => c.put(ref, `dir${trial}/new.txt`, `writer ${i}`)),
      );
      expect(results.filter((r) => r.statusCode === 201)).toHaveLength(1);
      expect(results.filter((r) => r.statusCode === 412)).toHaveLength(19);
    }
  });
});
