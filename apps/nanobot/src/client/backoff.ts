/**
 * Exponential backoff with full jitter: delay = random(0, min(max, base * 2^attempt)).
 * Jitter spreads a fleet of robots reconnecting after a gateway restart.
 */
export function createBackoff(options: { baseMs?: number; maxMs?: number; random?: () => number } = {}) {
  const base = options.baseMs ?? 500;
  const max = options.maxMs ?? 30_000;
  const random = options.random ?? Math.random;
  let attempt = 0;
  return {
    next(): number {
      const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 30));
      attempt++;
      return Math.max(base / 2, Math.round(random() * ceiling));
    },
    reset() {
      attempt = 0;
    },
    get attempts() {
      return attempt;
    },
  };
}
export type Backoff = ReturnType<typeof createBackoff>;
