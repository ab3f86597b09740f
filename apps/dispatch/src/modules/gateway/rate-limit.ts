/**
 * A token bucket: `ratePerSecond` tokens a second, holding at most `burst`. Each frame
 * takes one; an empty bucket means the sender is over its limit.
 */
export function createTokenBucket(ratePerSecond: number, burst = ratePerSecond, now = () => Date.now()) {
  let tokens = burst;
  let last = now();
  return {
    take(): boolean {
      const current = now();
      tokens = Math.min(burst, tokens + ((current - last) / 1000) * ratePerSecond);
      last = current;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}
export type TokenBucket = ReturnType<typeof createTokenBucket>;
