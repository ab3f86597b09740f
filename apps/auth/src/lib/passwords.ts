import { type Algorithm, hash, verify } from "@node-rs/argon2";

// Algorithm.Argon2id; the enum is `const` (ambient), so its value is spelled out here.
const ARGON2ID = 2 as Algorithm;

export type PasswordHasher = {
  hash(password: string): Promise<string>;
  verify(hashed: string, password: string): Promise<boolean>;
  /** Burns the same time as a real check, for unknown accounts (no timing oracle). */
  verifyDummy(password: string): Promise<false>;
};

/** argon2id with configurable cost; verification is constant-time inside the library. */
export async function createPasswordHasher(options: {
  memoryKib: number;
  passes: number;
}): Promise<PasswordHasher> {
  const params = {
    algorithm: ARGON2ID,
    memoryCost: options.memoryKib,
    timeCost: options.passes,
    parallelism: 1,
  };
  const dummy = await hash("perseus-dummy-password-for-timing", params);
  return {
    hash: (password) => hash(password, params),
    verify: async (hashed, password) => {
      try {
        return await verify(hashed, password);
      } catch {
        return false;
      }
    },
    verifyDummy: async (password) => {
      await verify(dummy, password).catch(() => false);
      return false;
    },
  };
}
