import { createHash } from "node:crypto";
import { link, mkdir, readdir, readFile, rename, rm, symlink, unlink, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Readable } from "node:stream";
import { schema, withTenant } from "@perseus/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, createHarness, createWorld, type Harness, PREFIX } from "./helper.js";

const MiB = 1024 * 1024;
let h: Harness;
let port: number;
beforeAll(async () => {
  h = await createHarness({
    env: { WORKSPACE_MAX_FILE_BYTES: String(256 * MiB), WORKSPACE_UPLOAD_IDLE_TIMEOUT_MS: "500" },
  });
  await h.app.listen({ port: 0, host: "127.0.0.1" });
  port = (h.app.server.address() as AddressInfo).port;
});
const leftovers: string[] = [];
afterAll(async () => {
  for (const dir of leftovers) await rm(dir, { recursive: true, force: true });
  await h?.close();
});

type Upload = { status: number; body: string };

/** A raw HTTP upload; resolves on the response even when the server cut the body short. */
function upload(
  token: string,
  chatgroupId: string,
  path: string,
  body: Readable | Buffer,
  headers: Record<string, string | number> = {},
): Promise<Upload> {
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: "127.0.0.1",
      port,
      method: "PUT",
      path: `${PREFIX}/layers/chatgroup/${chatgroupId}/files?path=${encodeURIComponent(path)}`,
      headers: {
        authorization: `Bearer ${token}`,
        "if-none-match": "*",
        "content-type": "application/octet-stream",
        ...headers,
      },
    });
    let answered = false;
    request.on("response", (response) => {
      answered = true;
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => {
        text += chunk;
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
      response.on("error", () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    // Writing after the server refused (EPIPE/ECONNRESET) is expected; only fail without an answer.
    request.on("error", (error) => {
      if (!answered) setTimeout(() => (answered ? undefined : reject(error)), 200);
    });
    if (Buffer.isBuffer(body)) request.end(body);
    else {
      body.on("error", () => request.destroy());
      body.pipe(request);
    }
  });
}

const listTmp = () => readdir(join(h.storageDir, "tmp"));
const entryCount = async (tenantId: string) =>
  (await withTenant(h.db, { tenantId }, (tx) => tx.select().from(schema.workspaceEntries))).length;
const objectPath = (tenantId: string, sha: string) =>
  join(h.storageDir, "objects", tenantId, sha.slice(0, 2), sha);
const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

describe("T20: storage attacks and upload limits", () => {
  it("a symlink or hard link planted in storage is never followed", async () => {
    const w = await createWorld(h);
    const c = client(h.app, w.ownerToken);
    const ref = { layer: "chatgroup" as const, layerId: w.chatgroupId };
    const outside = `${h.storageDir}-outside-${w.tenantId.slice(-6)}`;
    leftovers.push(outside);
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, "secret.txt"), "TOP SECRET OUTSIDE");

    // 1. The object file replaced by a symlink to a file outside the root.
    expect((await c.put(ref, "a.txt", "content a")).statusCode).toBe(201);
    const objectA = objectPath(w.tenantId, sha256("content a"));
    await unlink(objectA);
    await symlink(join(outside, "secret.txt"), objectA);
    const viaSymlink = await c.read(ref, "a.txt");
    expect(viaSymlink.statusCode).toBe(500);
    expect(viaSymlink.body).not.toContain("TOP SECRET");

    // 2. The object replaced by a hard link to an outside file.
    expect((await c.put(ref, "b.txt", "content b")).statusCode).toBe(201);
    const objectB = objectPath(w.tenantId, sha256("content b"));
    await unlink(objectB);
    await link(join(outside, "secret.txt"), objectB);
    const viaHardLink = await c.read(ref, "b.txt");
    expect(viaHardLink.statusCode).toBe(500);
    expect(viaHardLink.body).not.toContain("TOP SECRET");

    // 3. An object directory replaced by a symlink to a directory outside: no write lands there.
    const content = "content c";
    const dir = join(h.storageDir, "objects", w.tenantId, sha256(content).slice(0, 2));
    await rm(dir, { recursive: true, force: true });
    await symlink(outside, dir);
    const write = await c.put(ref, "c.txt", content);
    expect(write.statusCode).toBe(500);
    expect((await readdir(outside)).sort()).toEqual(["secret.txt"]);
    expect((await c.read(ref, "c.txt")).statusCode).toBe(404);
    expect(await listTmp()).toEqual([]);

    // 3b. The tenant's object directory replaced by a symlink: nothing is created outside.
    const tenantDir = join(h.storageDir, "objects", w.tenantId);
    await rename(tenantDir, `${tenantDir}-real`);
    await symlink(outside, tenantDir);
    expect((await c.put(ref, "e.txt", "content e")).statusCode).toBe(500);
    expect((await readdir(outside)).sort()).toEqual(["secret.txt"]);
    await unlink(tenantDir);
    await rename(`${tenantDir}-real`, tenantDir);

    // 4. The staging directory replaced by a symlink: uploads refuse to start.
    const tmp = join(h.storageDir, "tmp");
    await rename(tmp, `${tmp}-real`);
    await symlink(outside, tmp);
    expect((await c.put(ref, "d.txt", "content d")).statusCode).toBe(500);
    expect((await readdir(outside)).sort()).toEqual(["secret.txt"]);
    await unlink(tmp);
    await rename(`${tmp}-real`, tmp);
    expect(await readFile(join(outside, "secret.txt"), "utf8")).toBe("TOP SECRET OUTSIDE");
    await rm(dir);
    await rm(outside, { recursive: true, force: true });
  });

  it("oversized uploads get 413 with nothing stored (declared length and chunked)", async () => {
    const w = await createWorld(h);
    const declared = await upload(
      w.ownerToken,
      w.chatgroupId,
      "huge.bin",
      Readable.from(generate(300 * MiB)),
      {
        "content-length": 300 * MiB,
      },
    );
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body)).toMatchObject({ code: "payload_too_large" });
    const chunked = await upload(
      w.ownerToken,
      w.chatgroupId,
      "huge2.bin",
      Readable.from(generate(300 * MiB)),
    );
    expect(chunked.status).toBe(413);
    expect(await entryCount(w.tenantId)).toBe(0);
    expect(await listTmp()).toEqual([]);
    const usage = await withTenant(h.db, { tenantId: w.tenantId }, (tx) =>
      tx.select().from(schema.workspaceUsage),
    );
    expect(usage[0]?.bytes ?? 0).toBe(0);
  });

  it("a slow upload is cut off (408) and nothing is stored", async () => {
    const w = await createWorld(h);
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(1024, 7)); // then stalls
    const result = await upload(w.ownerToken, w.chatgroupId, "slow.bin", body, {
      "content-length": 10 * 1024,
    });
    body.destroy();
    expect(result.status).toBe(408);
    expect(JSON.parse(result.body).detail).toMatch(/stalled/);
    expect(await entryCount(w.tenantId)).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await listTmp()).toEqual([]);
  });

  it("server memory stays flat while a 200 MB file streams in", async () => {
    const w = await createWorld(h);
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 25);
    const size = 200 * MiB;
    const hash = createHash("sha256");
    const result = await upload(
      w.ownerToken,
      w.chatgroupId,
      "big/200mb.bin",
      Readable.from(generate(size, (chunk) => hash.update(chunk))),
      { "content-length": size },
    );
    clearInterval(sampler);
    const after = process.memoryUsage().rss;
    expect(result.status, result.body).toBe(201);
    expect(JSON.parse(result.body)).toMatchObject({ size });
    const growth = (peak - before) / MiB;
    // Flat: growth is bounded by buffers, nowhere near the file's size.
    expect(
      growth,
      `peak RSS growth ${growth.toFixed(1)} MiB, after ${((after - before) / MiB).toFixed(1)} MiB`,
    ).toBeLessThan(64);
    const [row] = await withTenant(h.db, { tenantId: w.tenantId }, (tx) =>
      tx.select().from(schema.workspaceVersions),
    );
    expect(row?.sha256).toBe(hash.digest("hex"));
    await rm(objectPath(w.tenantId, row?.sha256 ?? ""), { force: true });
  }, 120_000);
});

/** `total` bytes of varied content in 64 KiB chunks, generated lazily. */
function* generate(total: number, onChunk?: (chunk: Buffer) => void) {
  const chunkSize = 64 * 1024;
  for (let offset = 0, n = 0; offset < total; offset += chunkSize, n++) {
    const chunk = Buffer.alloc(Math.min(chunkSize, total - offset), n % 251);
    onChunk?.(chunk);
    yield chunk;
  }
}
