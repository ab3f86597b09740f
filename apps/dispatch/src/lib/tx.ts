import { type Db, pgErrorCode, type TenantContext, type Tx, withTenant } from "@perseus/db";

/** A tenant transaction (`withTenant` from @perseus/db, which releases its connection on every path). */
export const inTenant = withTenant;

const RETRYABLE_CODES = new Set(["40P01", "40001"]);
/**
 * `inTenant`, run again (up to `attempts` times) when Postgres aborted it as a deadlock
 * victim. Lease writes are conditional and idempotent, so a rerun is safe; everything they
 * do sits in the one transaction that was rolled back.
 */
export async function withTenantRetry<T>(
  db: Db,
  ctx: TenantContext,
  fn: (tx: Tx) => Promise<T>,
  attempts = 3,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await inTenant(db, ctx, fn);
    } catch (error) {
      if (attempt >= attempts || !RETRYABLE_CODES.has(pgErrorCode(error) ?? "")) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 * attempt + Math.random() * 20));
    }
  }
}
