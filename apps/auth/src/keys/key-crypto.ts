import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import type { JWK } from "jose";

/** How a private JWK is stored: AES-256-GCM under a key derived from AUTH_KEY_SECRET. */
export type SealedJwk = { v: 1; alg: "A256GCM"; iv: string; tag: string; ct: string };

/** Derives the key-encryption key; HKDF because the secret is already high-entropy. */
export function deriveKeyEncryptionKey(secret: string): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, "perseus.signing-keys", "kek.v1", 32));
}

/** Encrypts a private JWK; the kid is bound as additional data so blobs cannot be swapped. */
export function sealJwk(kek: Buffer, kid: string, jwk: JWK): SealedJwk {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", kek, iv);
  cipher.setAAD(Buffer.from(kid));
  const ct = Buffer.concat([cipher.update(JSON.stringify(jwk), "utf8"), cipher.final()]);
  return {
    v: 1,
    alg: "A256GCM",
    iv: iv.toString("base64url"),
    tag: cipher.getAuthTag().toString("base64url"),
    ct: ct.toString("base64url"),
  };
}

export function openJwk(kek: Buffer, kid: string, sealed: unknown): JWK {
  const box = sealed as Partial<SealedJwk>;
  if (box?.v !== 1 || box.alg !== "A256GCM" || !box.iv || !box.tag || !box.ct)
    throw new Error(`signing key ${kid} is not encrypted in a known format`);
  const decipher = createDecipheriv("aes-256-gcm", kek, Buffer.from(box.iv, "base64url"));
  decipher.setAAD(Buffer.from(kid));
  decipher.setAuthTag(Buffer.from(box.tag, "base64url"));
  try {
    const plain = Buffer.concat([decipher.update(Buffer.from(box.ct, "base64url")), decipher.final()]);
    return JSON.parse(plain.toString("utf8")) as JWK;
  } catch {
    throw new Error(
      `signing key ${kid} cannot be decrypted: AUTH_KEY_SECRET differs from the one it was sealed with`,
    );
  }
}
