// Small statistics for benchmark samples.

/** Percentile of an unsorted sample (nearest rank); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/** `x` rounded to `digits` decimals (JSON stays readable). */
export function round(x: number, digits = 2): number {
  return Number(x.toFixed(digits));
}

export const MiB = 1024 * 1024;
