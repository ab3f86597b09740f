import { randomUUID } from "node:crypto";
import { constants, type Stats } from "node:fs";
import {
  type FileHandle,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  realpath,
  rename,
  rm,
  stat,
  unlink,
} from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  assertObjectKey,
  type ByteRange,
  type StagedObject,
  type StorageDriver,
  StorageIntegrityError,
} from "./driver.js";
import { MeterStream } from "./meter.js";

// O_NOFOLLOW refuses a symlink as the last component; O_NONBLOCK keeps a planted FIFO from hanging open().
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | (constants.O_NONBLOCK ?? 0);
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const STALE_STAGING_MS = 24 * 3600_000;

export type LocalStorageOptions = {
  /** Directory the service owns; objects live in `<root>/objects`, staged uploads in `<root>/tmp`. */
  root: string;
};

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code;

/**
 * Local-disk storage: content-addressed objects (`objects/<tenant>/<aa>/<sha256>`),
 * written to a temp file, fsynced, then renamed into place (atomic; the same content
 * twice lands on the same name). Every directory used is checked to resolve exactly where
 * expected and every open refuses symlinks and hard links, so a link planted inside the
 * storage root cannot make the service read or write outside it.
 */
export async function createLocalStorage(options: LocalStorageOptions): Promise<StorageDriver> {
  await mkdir(join(options.root, "objects"), { recursive: true, mode: 0o700 });
  await mkdir(join(options.root, "tmp"), { recursive: true, mode: 0o700 });
  const root = await realpath(options.root);
  const objectsDir = join(root, "objects");
  const tmpDir = join(root, "tmp");
  const hasProcFd = await stat("/proc/self/fd").then(
    () => true,
    () => false,
  );

  /** The directory must resolve to itself: no component of it may be a symlink. */
  const assertRealDir = async (dir: string) => {
    let real: string;
    try {
      real = await realpath(dir);
    } catch (error) {
      throw new StorageIntegrityError(`storage directory unusable (${errorCode(error)})`);
    }
    if (real !== dir)
      throw new StorageIntegrityError("storage directory resolves outside its place (symlink)");
    const info = await lstat(dir);
    if (!info.isDirectory()) throw new StorageIntegrityError("storage directory is not a directory");
  };

  const objectDir = (tenantId: string, sha256: string) => join(objectsDir, tenantId, sha256.slice(0, 2));

  /** Creates the object's directory one level at a time, checking each level before using it. */
  const ensureObjectDir = async (tenantId: string, sha256: string) => {
    let dir = objectsDir;
    await assertRealDir(dir);
    for (const part of [tenantId, sha256.slice(0, 2)]) {
      dir = join(dir, part);
      // Not recursive: mkdir never follows a link at the last component, so nothing is created outside.
      await mkdir(dir, { mode: 0o700 }).catch((error) => {
        if (errorCode(error) !== "EEXIST") throw error;
      });
      await assertRealDir(dir);
    }
    return dir;
  };

  /** The opened descriptor must be a single-link regular file at exactly the expected path. */
  const assertOpenedFile = async (handle: FileHandle, expected: string, info: Stats) => {
    if (!info.isFile()) throw new StorageIntegrityError("stored object is not a regular file");
    if (info.nlink !== 1) throw new StorageIntegrityError("stored object has extra hard links");
    if (hasProcFd) {
      const actual = await readlink(`/proc/self/fd/${handle.fd}`);
      if (actual !== expected) throw new StorageIntegrityError("stored object resolves outside its place");
    }
  };

  // Staged uploads left behind by a crash are removed at start.
  const cutoff = Date.now() - STALE_STAGING_MS;
  for (const name of await readdir(tmpDir).catch(() => [] as string[])) {
    const info = await lstat(join(tmpDir, name)).catch(() => null);
    if (info && info.mtimeMs < cutoff) await rm(join(tmpDir, name), { force: true }).catch(() => {});
  }

  return {
    name: "local",

    async stage(tenantId, source: Readable): Promise<StagedObject> {
      await assertRealDir(tmpDir);
      const tmpPath = join(tmpDir, randomUUID());
      const handle = await open(tmpPath, CREATE_FLAGS, 0o600);
      const meter = new MeterStream();
      try {
        await pipeline(source, meter, async (chunks: AsyncIterable<Buffer>) => {
          for await (const chunk of chunks) await handle.write(chunk);
        });
      } catch (error) {
        await handle.close().catch(() => {});
        await unlink(tmpPath).catch(() => {});
        throw error;
      }
      // The descriptor stays open until commit/discard: only bytes that get committed pay for fsync.
      const sha256 = meter.digest();
      assertObjectKey(tenantId, sha256);
      let settled = false;
      return {
        sha256,
        size: meter.bytes,
        async commit() {
          if (settled) return;
          await handle.sync();
          await handle.close();
          const dir = await ensureObjectDir(tenantId, sha256);
          // rename() replaces whatever sits at the name (even a planted link) atomically.
          await rename(tmpPath, join(dir, sha256));
          settled = true;
          const dirHandle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
          await dirHandle.sync().finally(() => dirHandle.close());
        },
        async discard() {
          if (settled) return;
          settled = true;
          await handle.close().catch(() => {});
          await unlink(tmpPath).catch(() => {});
        },
      };
    },

    async read(tenantId, sha256, range?: ByteRange): Promise<Readable> {
      assertObjectKey(tenantId, sha256);
      const dir = objectDir(tenantId, sha256);
      await assertRealDir(dir);
      const path = join(dir, sha256);
      let handle: FileHandle;
      try {
        handle = await open(path, READ_FLAGS);
      } catch (error) {
        throw new StorageIntegrityError(`stored object cannot be opened (${errorCode(error)})`);
      }
      try {
        await assertOpenedFile(handle, path, await handle.stat());
      } catch (error) {
        await handle.close();
        throw error;
      }
      return handle.createReadStream(range ? { start: range.start, end: range.end } : {});
    },

    async remove(tenantId, sha256) {
      assertObjectKey(tenantId, sha256);
      const dir = objectDir(tenantId, sha256);
      try {
        await assertRealDir(dir);
      } catch {
        return; // missing, or not ours to touch
      }
      await unlink(join(dir, sha256)).catch((error) => {
        if (errorCode(error) !== "ENOENT") throw error;
      });
    },

    async check() {
      await assertRealDir(objectsDir);
      await assertRealDir(tmpDir);
    },
  };
}
