import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { HeadObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import S3rver from "s3rver";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3Storage } from "../src/storage/s3.js";
import { client, createHarness, createWorld, type Harness } from "./helper.js";

// A local S3-compatible server (s3rver, from npm) stands in for S3: the driver talks real S3 over HTTP.
let server: S3rver;
let dir: string;
let h: Harness;
let storage: ReturnType<typeof createS3Storage>;
const BUCKET = "perseus-test";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "perseus-s3-"));
  server = new S3rver({
    port: 0,
    address: "127.0.0.1",
    silent: true,
    directory: dir,
    configureBuckets: [{ name: BUCKET, configs: [] }],
  });
  const address = (await server.run()) as AddressInfo;
  storage = createS3Storage({
    bucket: BUCKET,
    prefix: "ws/",
    region: "us-east-1",
    endpoint: `http://127.0.0.1:${address.port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    partSize: 5 * 1024 * 1024,
  });
  h = await createHarness({ storage });
});
afterAll(async () => {
  await h?.close();
  storage?.client.destroy();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const keys = async () => {
  const listed = await storage.client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  return (listed.Contents ?? []).map((o) => o.Key ?? "").sort();
};

describe("S3 storage driver (against a local S3-compatible server)", () => {
  it("stages, commits under the content address, reads ranges and removes", async () => {
    const tenantId = "01a20000-0000-7000-8000-000000000001";
    const big = Buffer.alloc(12 * 1024 * 1024, 9); // multipart (several parts)
    const staged = await storage.stage(
      tenantId,
      Readable.from([big.subarray(0, 6_000_000), big.subarray(6_000_000)]),
    );
    expect(staged.size).toBe(big.length);
    expect((await keys()).filter((k) => k.startsWith("ws/staging/"))).toHaveLength(1);
    await staged.commit();
    const key = `ws/objects/${tenantId}/${staged.sha256.slice(0, 2)}/${staged.sha256}`;
    expect(await keys()).toEqual([key]);
    const head = await storage.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(head.ContentLength).toBe(big.length);
    const part = await storage.read(tenantId, staged.sha256, { start: 10, end: 19 });
    const chunks: Buffer[] = [];
    for await (const chunk of part) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks)).toEqual(Buffer.alloc(10, 9));
    const discarded = await storage.stage(tenantId, Readable.from([Buffer.from("nope")]));
    await discarded.discard();
    expect(await keys()).toEqual([key]);
    await storage.remove(tenantId, staged.sha256);
    expect(await keys()).toEqual([]);
    await expect(storage.read(tenantId, staged.sha256)).rejects.toThrow(/missing/);
  });

  it("serves the whole API: upload, Range, versions, delete with collection of unreferenced objects", async () => {
    const w = await createWorld(h);
    const c = client(h.app, w.ownerToken);
    const ref = { layer: "chatgroup" as const, layerId: w.chatgroupId };
    const first = await c.put(ref, "s3/hello.txt", "hello from s3");
    expect(first.statusCode).toBe(201);
    expect((await c.read(ref, "s3/hello.txt")).body).toBe("hello from s3");
    expect((await c.read(ref, "s3/hello.txt", { range: "bytes=6-9" })).body).toBe("from");
    const second = await c.put(ref, "s3/hello.txt", "second", { "if-match": first.headers.etag as string });
    expect(second.statusCode).toBe(200);
    expect((await c.readVersion(ref, "s3/hello.txt", 1)).body).toBe("hello from s3");
    expect((await keys()).filter((k) => k.includes(w.tenantId))).toHaveLength(2);
    expect((await c.del(ref, "s3/hello.txt", second.headers.etag as string)).statusCode).toBe(200);
    expect((await keys()).filter((k) => k.includes(w.tenantId))).toEqual([]);
  });
});
