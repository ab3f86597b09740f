import { randomUUID } from "node:crypto";
import type { SigningKeyInfo } from "@perseus/contracts";
import { type Db, type DbOrTx, schema, sql } from "@perseus/db";
import { generateSigningKey, type SigningKey } from "@perseus/kit";
import { type CryptoKey, importJWK, type JWK, type JWTVerifyGetKey } from "jose";
import { deriveKeyEncryptionKey, openJwk, sealJwk } from "./key-crypto.js";

type LoadedKey = {
  kid: string;
  publicJwk: JWK;
  privateKey: CryptoKey;
  verifyKey: CryptoKey;
  createdAt: Date;
  activatedAt: Date | null;
  retiredAt: Date | null;
};

export type KeyStoreOptions = {
  db: Db;
  secret: string;
  /** Longest lifetime of a token we sign: a retired key stays published this long (plus slack). */
  maxTokenTtlSeconds: number;
  activationDelaySeconds: number;
  reloadIntervalMs?: number;
  now?: () => number;
};

export type KeyStore = {
  /** The key that signs now. */
  signingKey(): SigningKey;
  /** The public keys that verify tokens (current, pending and still-overlapping retired ones). */
  jwks(): { keys: JWK[] };
  /** For jose's jwtVerify: finds the key by kid, reloading once from Postgres if it is new. */
  getKey: JWTVerifyGetKey;
  list(): SigningKeyInfo[];
  rotate(): Promise<SigningKeyInfo>;
  reload(): Promise<void>;
  close(): void;
};

const SLACK_MS = 60_000;

/**
 * Signing keys live in Postgres (private halves encrypted), shared by every replica. A
 * replica reloads them periodically and whenever it meets an unknown kid, so a key rotated
 * in by one replica verifies on all of them at once.
 */
export async function createKeyStore(options: KeyStoreOptions): Promise<KeyStore> {
  const kek = deriveKeyEncryptionKey(options.secret);
  const now = options.now ?? Date.now;
  const overlapMs = options.maxTokenTtlSeconds * 1000 + SLACK_MS;
  let keys: LoadedKey[] = [];
  let lastReload = 0;

  const isPublished = (key: LoadedKey, at: number) =>
    !key.retiredAt || key.retiredAt.getTime() + overlapMs > at;
  const statusOf = (key: LoadedKey, at: number, signer: string | undefined): SigningKeyInfo["status"] => {
    if (key.kid === signer) return "active";
    if (key.activatedAt && key.activatedAt.getTime() > at) return "pending";
    return isPublished(key, at) ? "retiring" : "retired";
  };

  const load = async () => {
    const rows = await options.db.select().from(schema.signingKeys);
    const loaded: LoadedKey[] = [];
    for (const row of rows) {
      const known = keys.find((key) => key.kid === row.kid);
      if (known) {
        loaded.push({ ...known, activatedAt: row.activatedAt, retiredAt: row.retiredAt });
        continue;
      }
      const privateJwk = openJwk(kek, row.kid, row.privateJwk);
      loaded.push({
        kid: row.kid,
        publicJwk: row.publicJwk as JWK,
        privateKey: (await importJWK(privateJwk, "ES256")) as CryptoKey,
        verifyKey: (await importJWK(row.publicJwk as JWK, "ES256")) as CryptoKey,
        createdAt: row.createdAt,
        activatedAt: row.activatedAt,
        retiredAt: row.retiredAt,
      });
    }
    keys = loaded.sort((a, b) => (a.activatedAt?.getTime() ?? 0) - (b.activatedAt?.getTime() ?? 0));
    lastReload = now();
  };

  const currentSigner = (at = now()): LoadedKey | undefined => {
    const live = keys.filter(
      (key) =>
        key.activatedAt &&
        key.activatedAt.getTime() <= at &&
        (!key.retiredAt || key.retiredAt.getTime() > at),
    );
    return live.at(-1) ?? keys.filter((key) => key.activatedAt && key.activatedAt.getTime() <= at).at(-1);
  };

  const insertKey = async (tx: DbOrTx, activatedAt: Date) => {
    const generated = await generateSigningKey(randomUUID());
    await tx.insert(schema.signingKeys).values({
      kid: generated.kid,
      alg: "ES256",
      publicJwk: generated.publicJwk,
      privateJwk: sealJwk(kek, generated.kid, generated.privateJwk),
      activatedAt,
    });
    return generated.kid;
  };

  // First start: create a key unless one exists; the advisory lock makes replicas agree.
  await options.db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended('perseus.auth.signing-keys', 0))`);
    const [row] = await tx.select({ kid: schema.signingKeys.kid }).from(schema.signingKeys).limit(1);
    if (!row) await insertKey(tx, new Date(now()));
  });
  await load();

  const timer = setInterval(() => void load().catch(() => {}), options.reloadIntervalMs ?? 30_000);
  timer.unref();

  const info = (key: LoadedKey, at: number, signer: string | undefined): SigningKeyInfo => ({
    kid: key.kid,
    alg: "ES256",
    status: statusOf(key, at, signer),
    createdAt: key.createdAt.toISOString(),
    activatedAt: key.activatedAt?.toISOString() ?? null,
    retiredAt: key.retiredAt?.toISOString() ?? null,
  });

  return {
    signingKey() {
      const key = currentSigner();
      if (!key) throw new Error("no signing key is active");
      return { kid: key.kid, privateKey: key.privateKey, publicJwk: key.publicJwk };
    },
    jwks() {
      const at = now();
      return { keys: keys.filter((key) => isPublished(key, at)).map((key) => key.publicJwk) };
    },
    getKey: async (header) => {
      const find = () => keys.find((key) => key.kid === header.kid && isPublished(key, now()));
      let key = find();
      if (!key && typeof header.kid === "string" && now() - lastReload > 2_000) {
        await load();
        key = find();
      }
      if (!key) throw new Error("unknown signing key");
      return key.verifyKey;
    },
    list() {
      const at = now();
      const signer = currentSigner(at)?.kid;
      return keys.map((key) => info(key, at, signer)).reverse();
    },
    async rotate() {
      const activatedAt = new Date(now() + options.activationDelaySeconds * 1000);
      const kid = await options.db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended('perseus.auth.signing-keys', 0))`);
        await tx
          .update(schema.signingKeys)
          .set({ retiredAt: activatedAt })
          .where(
            sql`${schema.signingKeys.retiredAt} is null or ${schema.signingKeys.retiredAt} > ${activatedAt}`,
          );
        return insertKey(tx, activatedAt);
      });
      await load();
      const at = now();
      const created = keys.find((key) => key.kid === kid);
      if (!created) throw new Error("rotated key vanished");
      return info(created, at, currentSigner(at)?.kid);
    },
    reload: load,
    close: () => clearInterval(timer),
  };
}
