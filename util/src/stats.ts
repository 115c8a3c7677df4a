// Percentiles of measured samples (latencies in the benches): nearest rank, so every reported value
// is one that was measured, never an interpolation between two.

/** The q-quantile (0 < q ≤ 1) of ascending `sorted` by nearest rank: the ⌈q·n⌉-th smallest; NaN when empty. */
export function percentile(sorted: readonly number[], q: number): number {
  if (!(q > 0 && q <= 1)) throw new Error(`percentile: q must be in (0, 1], got ${q}`);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export interface SampleSummary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

/** p50/p95/p99 (nearest rank) and mean of unsorted samples; the input is not modified. */
export function summarizeSamples(samples: readonly number[]): SampleSummary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    mean: sorted.length === 0 ? Number.NaN : sorted.reduce((s, x) => s + x, 0) / sorted.length,
  };
}
