import {
  Problem,
  WorkspaceEntry,
  WorkspaceTreeResponse,
  WorkspaceVersionsResponse,
} from "@perseus/contracts";
import { schema, sql, withTenant } from "@perseus/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, createHarness, createWorld, type Harness } from "./helper.js";

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ env: { WORKSPACE_MAX_VERSIONS: "3", WORKSPACE_MAX_FILE_BYTES: "4096" } });
});
afterAll(() => h?.close());

const problem = (body: string) => Problem.parse(JSON.parse(body));

describe("files: write, read, conditional requests", () => {
  it("creates with If-None-Match: *, reads back with type, ETag, 304 and Range", async () => {
    const w = await createWorld(h);
    const c = client(h.app, w.ownerToken);
    const ref = { layer: "chatgroup" as const, layerId: w.chatgroupId };
    const created = await c.put(ref, "docs/notes.md", "hello workspace", { "if-none-match": "*" });
    expect(created.statusCode).toBe(201);
    const entry = WorkspaceEntry.parse(created.json());
    expect(entry).toMatchObject({ path: "docs/notes.md", kind: "file", size: 15, version: 1 });
    expect(entry.contentType).toBe("text/markdown; charset=utf-8");
    expect(created.headers.etag).toBe(entry.etag);
    expect(entry.etag).toMatch(/^"[A-Za-z0-9_-]+"$/);

    const read = await c.read(ref, "docs/notes.md");
    expect(read.statusCode).toBe(200);
    expect(read.body).toBe("hello workspace");
    expect(read.headers["content-type"]).toBe("text/markdown; charset=utf-8");
    expect(read.headers.etag).toBe(entry.etag);
    expect(read.headers["content-length"]).toBe("15");
    expect(read.headers["accept-ranges"]).toBe("bytes");

    const head = await c.call({
      method: "HEAD",
      url: `/api/workspace/views/chatgroup/${w.chatgroupId}/files?path=docs/notes.md`,
    });
    expect(head.statusCode).toBe(200);
    expect(head.headers.etag).toBe(entry.etag);
    expect(head.body).toBe("");

    const notModified = await c.read(ref, "docs/notes.md", { "if-none-match": entry.etag });
    expect(notModified.statusCode).toBe(304);
    expect(notModified.body).toBe("");
    const weak = await c.read(ref, "docs/notes.md", { "if-none-match": `W/${entry.etag}` });
    expect(weak.statusCode).toBe(304);
    expect((await c.read(ref, "docs/notes.md", { "if-none-match": '"other"' })).statusCode).toBe(200);

    const part = await c.read(ref, "docs/notes.md", { range: "bytes=6-14" });
    expect(part.statusCode).toBe(206);
    expect(part.body).toBe("workspace");
    expect(part.headers["content-range"]).toBe("bytes 6-14/15");
    const suffix = await c.read(ref, "docs/notes.md", { range: "bytes=-5" });
    expect(suffix.body).toBe("space");
    const open = await c.read(ref, "docs/notes.md", { range: "bytes=10-" });
    expect(open.body).toBe("space");
    const bad = await c.read(ref, "docs/notes.md", { range: "bytes=99-" });
    expect(bad.statusCode).toBe(416);
    expect(bad.headers["content-range"]).toBe("bytes */15");
    const staleIfRange = await c.read(ref, "docs/notes.md", { range: "bytes=0-4", "if-range": '"stale"' });
    expect(staleIfRange.statusCode).toBe(200);
    expect(staleIfRange.body).toBe("hello workspace");
  });

  it("requires conditions: 428 without them, 412 on mismatch or existing file", async () => {
    const w = await createWorld(h);
    const c = client(h.app, w.ownerToken);
    const ref = { layer: "chatgroup" as const, layerId: w.chatgroupId };
    const none = await c.put(ref, "a.txt", "x", {});
    expect(none.statusCode).toBe(428);
    expect(problem(none.body).code).toBe("precondition_required");
    const first = await c.put(ref, "a.txt", "one");
    expect(first.statusCode).toBe(201);
    const etag = first.headers.etag as string;
    expect((await c.put(ref, "a.txt", "two")).statusCode).toBe(412); // If-None-Match: * on an existing file
    expect((await c.put(ref, "a.txt", "two", {})).statusCode).toBe(428);
    expect((await c.put(ref, "a.txt", "two", { "if-match": '"nope"' })).statusCode).toBe(412);
    expect((await c.put(ref, "a.txt", "two", { "if-match": `W/${etag}` })).statusCode).toBe(412);
    expect((await c.put(ref, "missing.txt", "x", { "if-match": etag })).statusCode).toBe(412);
    const second = await c.put(ref, "a.txt", "two", { "if-match": etag });
    expect(second.statusCode).toBe(200);
    expect(second.json().version).toBe(2);
    expect(second.headers.etag).not.toBe(etag);
    // Same bytes again still make a new version with a new ETag (the old one is stale).
    const third = await c.put(ref, "a.txt", "two", { "if-match": second.headers.etag as string });
    expect(third.statusCode).toBe(200);
    expect(third.headers.etag).not.toBe(second.headers.etag);

    expect((await c.del(ref, "a.txt")).statusCode).toBe(428);
    expect((await c.del(ref, "a.txt", etag)).statusCode).toBe(412);
    const deleted = await c.del(ref, "a.txt", third.headers.etag as string);
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toEqual({ path: "a.txt", deleted: 1 });
    expect((await c.read(ref, "a.txt")).statusCode).toBe(404);
  });

  it("keeps versions, lists them, reads one and restores it as a new version", async () => {
    const w = await createWorld(h);
    const c = client(h.app, w.ownerToken);
    const ref = { layer: "chatgroup" as const, layerId: w.chatgroupId };
    let etag = (await c.put(ref, "v.txt", "v1")).headers.etag as string;
    for (const body of ["v2", "v3", "v4"])
      etag = (await c.put(ref, "v.txt", body, { "if-match": etag })).headers.etag as string;
    const list = WorkspaceVersionsResponse.parse((await c.versions(ref, "v.txt")).json());
    // WORKSPACE_MAX_VERSIONS=3: version 1 was pruned.
    expect(list.items.map((v) => v.version)).toEqual([4, 3, 2]);
    expect(list.items[0]?.isCurrent).toBe(true);
    expect((await c.readVersion(ref, "v.txt", 2)).body).toBe("v2");
    expect((await c.readVersion(ref, "v.txt", 1)).statusCode).toBe(404);
    expect((await c.restore(ref, "v.txt", 2)).statusCode).toBe(428);
    expect((await c.restore(ref, "v.txt", 2, '"old"')).statusCode).toBe(412);
    const restored = await c.restore(ref, "v.txt", 2, etag);
    expect(restored.statusCode).toBe(200);
    expect(restored.json()).toMatchObject({ version: 5 });
    expect((await c.read(ref, "v.txt")).body).toBe("v2");
    const after = WorkspaceVersionsResponse.parse((await c.versions(ref, "v.txt")).json());
    expect(after.items.map((v) => v.version)).toEqual([5, 4, 3]);
  });

  it("enforces the file size limit (413) and the tenant quota (413), storing nothing", async () => {
    const w = await createWorld(h);
    const c = client(h.app, w.ownerToken);
    const ref = { layer: "chatgroup" as const, layerId: w.chatgroupId };
    const big = await c.put(ref, "big.bin", Buffer.alloc(5000, 1));
    expect(big.statusCode).toBe(413);
    expect(problem(big.body).code).toBe("payload_too_large");
    await withTenant(h.db, { tenantId: w.tenantId }, (tx) =>
      tx.insert(schema.workspaceUsage).values({ tenantId: w.tenantId, bytes: 0, quotaBytes: 3000 }),
    );
    expect((await c.put(ref, "one.bin", Buffer.alloc(2000, 2))).statusCode).toBe(201);
    const over = await c.put(ref, "two.bin", Buffer.alloc(2000, 3));
    expect(over.statusCode).toBe(413);
    expect(problem(over.body).detail).toMatch(/quota/);
    const usage = await withTenant(h.db, { tenantId: w.tenantId }, (tx) =>
      tx.select().from(schema.workspaceUsage),
    );
    expect(usage[0]?.bytes).toBe(2000);
    const tree = WorkspaceTreeResponse.parse((await c.tree(ref)).json());
    expect(tree.entries.map((e) => e.path)).toEqual(["one.bin"]);
    // Deleting frees the quota (with its versions).
    const etag = tree.entries[0]?.etag as string;
    expect((await c.del(ref, "one.bin", etag)).statusCode).toBe(200);
    expect((await c.put(ref, "two.bin", Buffer.alloc(2000, 3))).statusCode).toBe(201);
  });

  it("mkdir, move and delete of directories; audit rows and outbox events in the same transaction", async () => {
    const w = await createWorld(h);
    const c = client(h.app, w.ownerToken);
    const ref = { layer: "team" as const, layerId: w.teamId };
    expect((await c.mkdir(ref, "src/lib")).statusCode).toBe(201);
    expect((await c.mkdir(ref, "src/lib")).statusCode).toBe(200);
    expect((await c.put(ref, "src/lib/a.ts", "export const a = 1;")).statusCode).toBe(201);
    expect((await c.put(ref, "src/lib/a.ts/b", "x")).statusCode).toBe(409);
    const tree = WorkspaceTreeResponse.parse((await c.tree(ref, "", true)).json());
    const src = tree.entries.find((e) => e.path === "src");
    expect(src).toMatchObject({ kind: "dir", size: 19 });
    const moved = await c.move(ref, "src", "lib2/src", src?.etag);
    expect(moved.statusCode).toBe(200);
    expect((await c.read(ref, "lib2/src/lib/a.ts")).body).toBe("export const a = 1;");
    expect((await c.read(ref, "src/lib/a.ts")).statusCode).toBe(404);
    const dir = WorkspaceTreeResponse.parse((await c.tree(ref, "lib2")).json()).entries[0];
    expect((await c.del(ref, "lib2/src", dir?.etag)).statusCode).toBe(409);
    const gone = await c.del(ref, "lib2/src", dir?.etag, true);
    expect(gone.json()).toEqual({ path: "lib2/src", deleted: 3 });

    const [audit, outbox] = await withTenant(h.db, { tenantId: w.tenantId }, async (tx) => [
      await tx.execute(sql`select action from audit_events order by seq`),
      await tx.execute(sql`select envelope from outbox where topic = 'workspace' order by id`),
    ]);
    expect(audit.rows.map((r) => r.action)).toEqual([
      "workspace.dir.create",
      "workspace.file.write",
      "workspace.entry.move",
      "workspace.entry.delete",
    ]);
    const events = outbox.rows.map(
      (r) => r.envelope as { type: string; payload: { path: string; change: string } },
    );
    expect(events.every((e) => e.type === "file.changed")).toBe(true);
    expect(events.map((e) => `${e.payload.change}:${e.payload.path}`)).toEqual([
      "created:src/lib",
      "created:src/lib/a.ts",
      "moved:src",
      "created:lib2/src",
      "deleted:lib2/src",
    ]);
    const broken = await withTenant(h.db, { tenantId: w.tenantId }, (tx) =>
      tx.execute(sql`select * from perseus_audit_verify()`),
    );
    expect(broken.rows).toEqual([]);
  });

  it("refuses bad input with problem+json and no state change", async () => {
    const w = await createWorld(h);
    const c = client(h.app, w.ownerToken);
    const ref = { layer: "chatgroup" as const, layerId: w.chatgroupId };
    for (const path of ["../x", "a/../b", "/etc/passwd", "a//b", "a\\b", "%2e%2e/x", "a\u0000b", "a/", ""]) {
      const res = await c.put(ref, path, "x");
      expect(res.statusCode, path).toBe(400);
      expect(res.headers["content-type"]).toMatch(/application\/problem\+json/);
    }
    expect(
      (await c.call({ method: "GET", url: `/api/workspace/views/chatgroup/not-a-uuid/tree` })).statusCode,
    ).toBe(400);
    expect(
      (await c.call({ method: "GET", url: `/api/workspace/views/planet/${w.chatgroupId}/tree` })).statusCode,
    ).toBe(400);
    const tree = WorkspaceTreeResponse.parse((await c.tree(ref, "", true)).json());
    expect(tree.entries).toEqual([]);
  });
});
