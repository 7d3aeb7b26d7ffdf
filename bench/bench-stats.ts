// Statistics every benchmark prints: nearest-rank quantiles and medians over samples (an empty
// sample gives NaN, printed as "n/a"), shared so all benches compute p50/p99 the same way.

export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export const median = (values: number[]): number => quantile(values, 0.5);

