// Latency percentiles of raw samples (the benchmarks keep every sample; runs are short).
/** p-th percentile (0–100) of unsorted samples, nearest rank; NaN when empty. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}
