import { randomUUID } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import {
  assertObjectKey,
  type ByteRange,
  type StagedObject,
  type StorageDriver,
  StorageIntegrityError,
} from "./driver.js";
import { MeterStream } from "./meter.js";

export type S3StorageOptions = {
  bucket: string;
  /** Key prefix inside the bucket (e.g. `perseus/`), so one bucket can serve several installations. */
  prefix?: string;
  region: string;
  /** Custom endpoint of an S3-compatible server (MinIO, Ceph, R2, ...); omit for AWS. */
  endpoint?: string | undefined;
  forcePathStyle?: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
  /** Multipart part size; uploads buffer at most `partSize × queueSize` bytes in memory. */
  partSize?: number;
};

/**
 * S3-compatible storage. An upload streams to `staging/<tenant>/<uuid>` (multipart, so
 * memory stays bounded whatever the size) while it is hashed, then a server-side copy
 * gives it its content address `objects/<tenant>/<aa>/<sha256>`. Objects larger than 5 GiB
 * cannot be copied in one request: keep WORKSPACE_MAX_FILE_BYTES below that.
 */
export function createS3Storage(options: S3StorageOptions): StorageDriver & { client: S3Client } {
  const config: S3ClientConfig = {
    region: options.region,
    forcePathStyle: options.forcePathStyle ?? Boolean(options.endpoint),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  };
  const client = new S3Client(config);
  const prefix = options.prefix ?? "";
  const bucket = options.bucket;
  const objectKey = (tenantId: string, sha256: string) =>
    `${prefix}objects/${tenantId}/${sha256.slice(0, 2)}/${sha256}`;

  const deleteKey = async (key: string) => {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => {});
  };

  return {
    name: "s3",
    client,

    async stage(tenantId, source: Readable): Promise<StagedObject> {
      const stagingKey = `${prefix}staging/${tenantId}/${randomUUID()}`;
      const meter = new MeterStream();
      const body = new PassThrough();
      source.on("error", (error) => body.destroy(error));
      source.pipe(meter).pipe(body);
      const upload = new Upload({
        client,
        params: { Bucket: bucket, Key: stagingKey, Body: body, ContentType: "application/octet-stream" },
        partSize: options.partSize ?? 8 * 1024 * 1024,
        queueSize: 2,
        leavePartsOnError: false,
      });
      try {
        await upload.done();
      } catch (error) {
        await deleteKey(stagingKey);
        throw error;
      }
      const sha256 = meter.digest();
      assertObjectKey(tenantId, sha256);
      let settled = false;
      return {
        sha256,
        size: meter.bytes,
        async commit() {
          if (settled) return;
          await client.send(
            new CopyObjectCommand({
              Bucket: bucket,
              Key: objectKey(tenantId, sha256),
              CopySource: `${bucket}/${encodeURI(stagingKey)}`,
            }),
          );
          settled = true;
          await deleteKey(stagingKey);
        },
        async discard() {
          if (settled) return;
          settled = true;
          await deleteKey(stagingKey);
        },
      };
    },

    async read(tenantId, sha256, range?: ByteRange): Promise<Readable> {
      assertObjectKey(tenantId, sha256);
      try {
        const result = await client.send(
          new GetObjectCommand({
            Bucket: bucket,
            Key: objectKey(tenantId, sha256),
            ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
          }),
        );
        if (!(result.Body instanceof Readable)) throw new StorageIntegrityError("unexpected S3 body type");
        return result.Body;
      } catch (error) {
        if ((error as { name?: string }).name === "NoSuchKey")
          throw new StorageIntegrityError("stored object is missing");
        throw error;
      }
    },

    async remove(tenantId, sha256) {
      assertObjectKey(tenantId, sha256);
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: objectKey(tenantId, sha256) }));
    },

    async check() {
      await client.send(new HeadBucketCommand({ Bucket: bucket }));
    },
  };
}
