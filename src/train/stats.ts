// Small statistics of step times (median, paired ratio), shared by the rank program and the summaries.

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 === 1 ? s[k]! : (s[k - 1]! + s[k]!) / 2;
}

/** Median over rounds i of base[i] / other[i]: how much faster `other` ran than `base` under the same load. */
export function pairedRatio(base: readonly number[], other: readonly number[]): number {
  const n = Math.min(base.length, other.length);
  return median(Array.from({ length: n }, (_, i) => base[i]! / other[i]!));
}
