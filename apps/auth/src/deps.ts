import type { RevocationKind } from "@perseus/contracts";
import type { Db } from "@perseus/db";
import type { Redis } from "ioredis";
import type { AuthConfig } from "./config.js";
import type { KeyStore } from "./keys/key-store.js";
import type { PasswordHasher } from "./lib/passwords.js";
import type { TokenIssuer } from "./lib/tokens.js";

/** What feature services share; each takes the narrow part it needs (Pick<Services, ...>). */
export type Services = {
  config: AuthConfig;
  db: Db;
  redis: Redis;
  keys: KeyStore;
  tokens: TokenIssuer;
  passwords: PasswordHasher;
  /** Publishes a revocation to every replica (Redis hash + pub/sub); call after the commit. */
  revoke(kind: RevocationKind, id: string, atMs?: number): Promise<void>;
};
