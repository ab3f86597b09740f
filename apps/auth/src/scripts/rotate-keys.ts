import { createDb, createPool } from "@perseus/db";
import { loadConfig } from "../config.js";
import { createKeyStore } from "../keys/key-store.js";

// Rotates the token signing key from the command line (same rules as POST /signing-keys/rotate):
//   node dist/scripts/rotate-keys.js            rotate
//   node dist/scripts/rotate-keys.js --list     show keys and their state
const config = loadConfig();
const pool = createPool({ url: config.DATABASE_URL, max: 1, applicationName: "perseus-auth-rotate-keys" });
try {
  const keys = await createKeyStore({
    db: createDb(pool),
    secret: config.AUTH_KEY_SECRET,
    maxTokenTtlSeconds: Math.max(config.AUTH_ACCESS_TTL_SECONDS, config.AUTH_ROBOT_TOKEN_TTL_SECONDS),
    activationDelaySeconds: config.AUTH_KEY_ACTIVATION_DELAY_SECONDS,
  });
  if (!process.argv.includes("--list")) {
    const rotated = await keys.rotate();
    console.log(`rotated: new key ${rotated.kid} signs from ${rotated.activatedAt}`);
  }
  for (const key of keys.list())
    console.log(`${key.kid}  ${key.status.padEnd(8)}  activated ${key.activatedAt ?? "-"}`);
  keys.close();
} catch (error) {
  console.error(`[rotate-keys] ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await pool.end();
}
