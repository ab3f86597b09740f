import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, posix, relative, win32 } from "node:path";
import { sql, withTenant } from "@perseus/db";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isValidPath, normalisePath } from "../src/modules/files/paths.js";
import {
  client,
  createChatgroup,
  createHarness,
  createRobotTask,
  createWorld,
  type Harness,
  PREFIX,
} from "./helper.js";
import { HAND_LIST, HOSTILE_TOKENS, hostilePath } from "./hostile-paths.js";

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
const leftovers: string[] = [];
afterAll(async () => {
  for (const dir of leftovers) await rm(dir, { recursive: true, force: true });
  await h?.close();
});

/** What an accepted path must never be able to mean, on any OS or after any further decoding. */
function assertContained(raw: string) {
  const { path, segments } = normalisePath(raw);
  for (const variant of [path, path.normalize("NFKC"), path.normalize("NFKD")]) {
    expect(posix.resolve("/root", variant).startsWith("/root/"), raw).toBe(true);
    expect(win32.resolve("C:\\root", variant).startsWith("C:\\root\\"), raw).toBe(true);
  }
  expect(path.startsWith("/")).toBe(false);
  expect(/[\p{Cc}\\]/u.test(path)).toBe(false);
  expect(/%[0-9a-f]{2}/i.test(path)).toBe(false);
  for (const segment of segments) {
    expect(segment).not.toBe("");
    expect(/^[.\s]+$/.test(segment.normalize("NFKC"))).toBe(false);
  }
}

describe("T19: hostile paths", () => {
  it("the normaliser refuses every hand-listed attack", () => {
    for (const raw of HAND_LIST) expect(isValidPath(raw), JSON.stringify(raw)).toBe(false);
    // ...and keeps ordinary names working.
    for (const ok of [
      "a",
      "docs/plan.md",
      "src/lib/index.ts",
      "Überblick/ß.txt",
      "日本語/ノート.md",
      "a b/c-d_e.f",
      "100%.txt",
      ".env",
      "x..y",
    ])
      expect(isValidPath(ok), ok).toBe(true);
    expect(normalisePath("e\u0301.txt").path).toBe("\u00e9.txt");
  });

  it("≥ 50 000 generated hostile paths: whatever the normaliser accepts stays contained", () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(hostilePath, (raw) => {
        if (!isValidPath(raw)) {
          refused++;
          return;
        }
        accepted++;
        assertContained(raw);
      }),
      { numRuns: 50_000, seed: 19 },
    );
    expect(accepted + refused).toBe(50_000);
    expect(refused).toBeGreaterThan(accepted);
  });

  it("a few thousand through every file API as a robot scoped to one chatgroup: canaries unchanged, 0 5xx", async () => {
    const a = await createWorld(h);
    const b = await createWorld(h);
    const otherGroup = await createChatgroup(h.db, a.tenantId, a.teamId);
    const owner = client(h.app, a.ownerToken);
    const ownerB = client(h.app, b.ownerToken);
    const canaries = [
      [owner, { layer: "chatgroup" as const, layerId: otherGroup }],
      [owner, { layer: "team" as const, layerId: a.teamId }],
      [owner, { layer: "tenant" as const, layerId: a.tenantId }],
      [ownerB, { layer: "chatgroup" as const, layerId: b.chatgroupId }],
      [ownerB, { layer: "tenant" as const, layerId: b.tenantId }],
    ] as const;
    for (const [c, ref] of canaries) {
      expect((await c.put(ref, "canary/secret.txt", `canary ${ref.layer}`)).statusCode).toBe(201);
      expect((await c.put(ref, "x", "canary x")).statusCode).toBe(201);
    }
    // Files outside the storage root that traversal would aim at.
    const outside = `${h.storageDir}-outside`;
    leftovers.push(outside);
    await mkdir(join(outside, "etc"), { recursive: true });
    await writeFile(join(outside, "etc", "passwd"), "root:x:0:0");
    await writeFile(join(outside, "canary.txt"), "outside canary");
    const snapshot = async () => {
      const db = [];
      for (const tenantId of [a.tenantId, b.tenantId]) {
        db.push(
          await withTenant(h.db, { tenantId }, (tx) =>
            tx.execute(
              sql`select layer, layer_id, path, kind, etag from workspace_entries
                  where layer <> 'chatgroup' or layer_id <> ${a.chatgroupId} order by 1, 2, 3`,
            ),
          ),
        );
      }
      const files = await readdir(outside, { recursive: true });
      const contents = await Promise.all(
        files.sort().map(async (f) => [f, await readFile(join(outside, f)).catch(() => "dir")]),
      );
      return JSON.stringify([db.map((r) => r.rows), contents]);
    };
    const before = await snapshot();

    const task = await createRobotTask(h, a.tenantId, a.chatgroupId, 3600);
    const robot = client(h.app, task.taskToken);
    const scope = { layer: "chatgroup" as const, layerId: a.chatgroupId };
    const base = `${PREFIX}/layers/chatgroup/${a.chatgroupId}`;
    const view = `${PREFIX}/views/chatgroup/${a.chatgroupId}`;
    const samples = [
      ...HAND_LIST,
      ...HOSTILE_TOKENS,
      ...fc.sample(hostilePath, { numRuns: 160, seed: 1919 }),
    ];
    const encode = (p: string) => {
      try {
        return encodeURIComponent(p);
      } catch {
        return null; // a lone surrogate has no UTF-8 spelling: only JSON bodies can carry it
      }
    };
    const requestsFor = (p: string) => {
      const encoded = encode(p);
      const q = `path=${encoded}`;
      const star = { "if-match": "*" };
      const all = [
        { method: "GET" as const, url: `${view}/tree?${q}` },
        { method: "GET" as const, url: `${base}/tree?${q}&recursive=true` },
        { method: "GET" as const, url: `${view}/files?${q}` },
        { method: "GET" as const, url: `${base}/files?${q}` },
        {
          method: "PUT" as const,
          url: `${base}/files?${q}`,
          payload: "fuzz",
          headers: { "if-none-match": "*" },
        },
        { method: "DELETE" as const, url: `${base}/files?${q}&recursive=true`, headers: star },
        { method: "POST" as const, url: `${base}/dirs`, payload: { path: p } },
        { method: "POST" as const, url: `${base}/move`, payload: { from: "x", to: p }, headers: star },
        { method: "POST" as const, url: `${base}/move`, payload: { from: p, to: "moved" }, headers: star },
        {
          method: "POST" as const,
          url: `${base}/copy`,
          payload: { from: { ...scope, path: p }, to: "copied" },
        },
        {
          method: "POST" as const,
          url: `${base}/copy`,
          payload: { from: { ...scope, path: "x" }, to: p },
          headers: { "if-none-match": "*" },
        },
        { method: "POST" as const, url: `${base}/whiteouts`, payload: { path: p } },
        { method: "GET" as const, url: `${base}/versions?${q}` },
        { method: "GET" as const, url: `${base}/versions/1?${q}` },
        {
          method: "POST" as const,
          url: `${base}/versions/restore`,
          payload: { path: p, version: 1 },
          headers: star,
        },
      ];
      return encoded === null ? all.filter((r) => !r.url.includes("?")) : all;
    };
    const statuses = new Map<number, number>();
    let sent = 0;
    const send = async (options: Parameters<typeof robot.call>[0]) => {
      const res = await robot.call(options).catch(() => null); // light-my-request refuses some raw URLs itself
      if (!res) return;
      sent++;
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      expect(
        res.statusCode,
        `${options.method} ${options.url} ${JSON.stringify(options.payload)}`,
      ).toBeLessThan(500);
    };
    const batches: Parameters<typeof robot.call>[0][][] = [];
    for (const p of samples) batches.push(requestsFor(p));
    // The raw spelling too: the URL layer decodes once, the normaliser sees the result.
    batches.push(HAND_LIST.map((p) => ({ method: "GET" as const, url: `${view}/files?path=${p}` })));
    batches.push(
      HAND_LIST.map((p) => ({
        method: "PUT" as const,
        url: `${base}/files?path=${p}`,
        payload: "raw",
        headers: { "if-none-match": "*" },
      })),
    );
    for (const batch of batches) await Promise.all(batch.map(send));
    expect(sent).toBeGreaterThan(3_000);
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(sent / 2);

    expect(await snapshot()).toBe(before);
    // Storage holds only content-addressed objects of tenants that wrote files, and no leftovers.
    const stored = await readdir(join(h.storageDir, "objects"), { recursive: true, withFileTypes: true });
    for (const entry of stored.filter((e) => e.isFile())) {
      const rel = relative(join(h.storageDir, "objects"), join(entry.parentPath, entry.name));
      expect(rel).toMatch(/^[0-9a-f-]{36}\/[0-9a-f]{2}\/[0-9a-f]{64}$/);
      const bytes = await readFile(join(entry.parentPath, entry.name));
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(entry.name);
    }
    expect(await readdir(join(h.storageDir, "tmp"))).toEqual([]);
    await rm(outside, { recursive: true, force: true });
  }, 240_000);
});
