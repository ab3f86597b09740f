import { constants } from "node:fs";
import { lstat, mkdir, open, readdir, realpath, rm } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";

/** A path a tool asked for that leaves the sandbox (or is malformed): refused, never followed. */
export class SandboxViolation extends Error {
  override name = "SandboxViolation";
}

const MAX_READ_BYTES = 1_000_000;

export type Sandbox = {
  /** Real (symlink-free) absolute path of the sandbox directory. */
  root: string;
  /** Resolves a relative path inside the sandbox; throws SandboxViolation for anything that escapes. */
  resolvePath(path: string): Promise<string>;
  readFile(path: string, maxBytes?: number): Promise<string>;
  writeFile(path: string, content: string): Promise<void>;
  listDir(path: string): Promise<string[]>;
  remove(): Promise<void>;
};

function isInside(root: string, candidate: string) {
  const rel = relative(root, candidate);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/** Lexical checks first: absolute paths, NUL, backslashes, `..` and home-relative paths are refused outright. */
function checkLexically(path: string) {
  if (typeof path !== "string" || path.length === 0) throw new SandboxViolation("empty path");
  if (path.length > 4_096) throw new SandboxViolation("path too long");
  if (path.includes("\0")) throw new SandboxViolation("NUL in path");
  if (path.includes("\\")) throw new SandboxViolation("backslash in path");
  if (isAbsolute(path) || path.startsWith("~")) throw new SandboxViolation(`absolute path refused: ${path}`);
  if (path.split("/").includes("..")) throw new SandboxViolation(`'..' refused: ${path}`);
}

/**
 * Creates (if needed) the directory `dir` and confines file operations to it. Every
 * operation re-resolves the real path of the nearest existing ancestor (so a symlink
 * planted later is caught) and opens the final component with O_NOFOLLOW.
 */
export async function createSandbox(dir: string): Promise<Sandbox> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const root = await realpath(dir);

  /** The real path of the deepest existing ancestor must stay inside root. */
  const confine = async (target: string) => {
    let probe = target;
    for (;;) {
      try {
        const real = await realpath(probe);
        if (!isInside(root, real)) throw new SandboxViolation("path leaves the sandbox through a symlink");
        return;
      } catch (error) {
        if (error instanceof SandboxViolation) throw error;
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
        const parent = dirname(probe);
        if (parent === probe) throw new SandboxViolation("no existing ancestor");
        probe = parent;
      }
    }
  };

  const resolvePath = async (path: string) => {
    checkLexically(path);
    const target = resolve(root, path);
    if (!isInside(root, target)) throw new SandboxViolation(`path leaves the sandbox: ${path}`);
    await confine(target);
    return target;
  };

  return {
    root,
    resolvePath,
    async readFile(path, maxBytes = MAX_READ_BYTES) {
      const target = await resolvePath(path);
      const handle = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW).catch((error) => {
        if ((error as NodeJS.ErrnoException).code === "ELOOP") throw new SandboxViolation("symlink refused");
        throw error;
      });
      try {
        const buffer = Buffer.alloc(maxBytes);
        const { bytesRead } = await handle.read(buffer, 0, maxBytes, 0);
        return buffer.subarray(0, bytesRead).toString("utf8");
      } finally {
        await handle.close();
      }
    },
    async writeFile(path, content) {
      const target = await resolvePath(path);
      await mkdir(dirname(target), { recursive: true });
      await confine(dirname(target)); // the parent may have been swapped for a symlink meanwhile
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
      const handle = await open(target, flags, 0o600).catch((error) => {
        if ((error as NodeJS.ErrnoException).code === "ELOOP") throw new SandboxViolation("symlink refused");
        throw error;
      });
      try {
        await handle.writeFile(content, "utf8");
      } finally {
        await handle.close();
      }
    },
    async listDir(path) {
      const target = path === "." || path === "" ? root : await resolvePath(path);
      const stat = await lstat(target);
      if (stat.isSymbolicLink()) throw new SandboxViolation("symlink refused");
      const entries = await readdir(target, { withFileTypes: true });
      return entries.map((e) => (e.isDirectory() ? `${e.name}${sep}` : e.name)).sort();
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

/** The per-task sandbox directory under the robot's data directory. */
export function sandboxDirFor(sandboxRoot: string, taskId: string) {
  if (!/^[0-9a-zA-Z-]{1,64}$/.test(taskId)) throw new SandboxViolation("invalid task id");
  return join(sandboxRoot, taskId);
}
