import { buildPath, workspaceRoutes } from "@perseus/contracts";
import { sql, withTenant } from "@perseus/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, createHarness, createRobotTask, createWorld, type Harness, PREFIX } from "./helper.js";

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h?.close());

const CANARY = "canary-7f3a9c";

async function snapshot(tenantId: string) {
  return withTenant(h.db, { tenantId }, async (tx) => {
    const rows = await tx.execute(
      sql`select layer, layer_id, path, kind, etag, version from workspace_entries order by layer, layer_id, path`,
    );
    const versions = await tx.execute(
      sql`select file_id, version, etag from workspace_versions order by 1, 2`,
    );
    return JSON.stringify([rows.rows, versions.rows]);
  });
}

describe("cross-tenant probes of every route", () => {
  it("tenant A's user and robot get 404 on tenant B's layers, leak no canary, cause no 5xx and change nothing", async () => {
    const a = await createWorld(h);
    const b = await createWorld(h);
    const owner = client(h.app, b.ownerToken);
    const bRefs = [
      { layer: "tenant" as const, layerId: b.tenantId },
      { layer: "team" as const, layerId: b.teamId },
      { layer: "chatgroup" as const, layerId: b.chatgroupId },
    ];
    const etags: string[] = [];
    for (const ref of bRefs) {
      const res = await owner.put(ref, `${CANARY}.txt`, `${CANARY} secret of ${ref.layer}`);
      expect(res.statusCode).toBe(201);
      etags.push(res.headers.etag as string);
    }
    const before = await snapshot(b.tenantId);
    const task = await createRobotTask(h, a.tenantId, a.chatgroupId);
    const actors = { user: a.ownerToken, robot: task.taskToken, plainRobot: task.robotToken };
    const aGroup = { layer: "chatgroup" as const, layerId: a.chatgroupId };

    const names = Object.keys(workspaceRoutes) as (keyof typeof workspaceRoutes)[];
    let probes = 0;
    for (const [kind, token] of Object.entries(actors)) {
      for (const name of names) {
        const spec = workspaceRoutes[name];
        for (const [index, ref] of bRefs.entries()) {
          const path = `${CANARY}.txt`;
          const bodies: Record<string, unknown> = {
            makeDirectory: { path: `${CANARY}-dir` },
            moveEntry: { from: path, to: `${CANARY}-moved.txt` },
            copyFile: { from: { ...ref, path }, to: `${CANARY}-copy.txt` },
            createWhiteout: { path },
            restoreVersion: { path, version: 1 },
          };
          // Copy is also probed the other way round: into A's own layer from B's file.
          const targets = name === "copyFile" ? [ref, aGroup] : [ref];
          for (const target of targets) {
            const url = `${PREFIX}${buildPath(spec.path, { ...target, version: 1 })}?path=${encodeURIComponent(path)}`;
            const res = await h.app.inject({
              method: spec.method,
              url,
              headers: {
                authorization: `Bearer ${token}`,
                "if-match": etags[index] as string,
                ...(spec.method === "PUT" ? { "content-type": "text/plain" } : {}),
              },
              ...(spec.method === "PUT" ? { payload: "overwritten" } : {}),
              ...(bodies[name] ? { payload: bodies[name] as object } : {}),
            });
            probes++;
            const expected = kind === "plainRobot" ? 403 : 404;
            expect(res.statusCode, `${kind} ${name} ${target.layer}`).toBe(expected);
            expect(res.body).not.toContain(CANARY);
            expect(res.body).not.toContain(b.tenantId);
          }
        }
      }
    }
    expect(probes).toBe(3 * (names.length + 1) * 3);
    expect(await snapshot(b.tenantId)).toBe(before);
    // B's owner still reads the canaries unchanged.
    for (const ref of bRefs)
      expect((await owner.read(ref, `${CANARY}.txt`)).body).toBe(`${CANARY} secret of ${ref.layer}`);
    // And A's tenant gained nothing from the copies.
    const aRows = await withTenant(h.db, { tenantId: a.tenantId }, (tx) =>
      tx.execute(sql`select count(*)::int as n from workspace_entries`),
    );
    expect(aRows.rows[0]?.n).toBe(0);
  });
});
