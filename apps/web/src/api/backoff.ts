/**
 * The wait before reconnect attempt number `failures + 1`: exponential from 500 ms, capped
 * at `maxMs`, with "equal jitter" (half fixed, half random) so that many browsers cut off
 * together do not come back together.
 */
export function reconnectDelay(failures: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, 500 * 2 ** failures);
  return ceiling / 2 + random() * (ceiling / 2);
}
