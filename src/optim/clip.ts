// Gradient clipping by global L2 norm, PyTorch's clip_grad_norm_ (and DeepSpeed's gradient_clipping):
//   coef = max_norm / (norm + 1e-6), applied only when coef < 1.
// The global norm of a sharded gradient is sqrt of the sum over ranks of each shard's sum of squares; the caller
// reduces the partial sums (optim does not communicate) and passes the total here.

/** PyTorch's epsilon in the clipping coefficient. */
export const CLIP_EPS = 1e-6;

/** sqrt(sum of partial sums of squares); Infinity/NaN propagate (an overflowed gradient has no finite norm). */
export function globalNorm(sumsOfSquares: readonly number[] | number): number {
  if (typeof sumsOfSquares === 'number') return Math.sqrt(sumsOfSquares);
  let s = 0;
  for (const x of sumsOfSquares) s += x;
  return Math.sqrt(s);
}

/**
 * The factor to multiply gradients by: max_norm / (norm + 1e-6) when that is < 1, else 1. max_norm <= 0 disables
 * clipping (DeepSpeed's gradient_clipping 0.0), and so does a non-finite norm (that step is skipped or fails
 * elsewhere; clipping cannot repair it).
 */
export function clipCoefficient(norm: number, maxNorm: number): number {
  if (!(maxNorm > 0) || !Number.isFinite(norm)) return 1;
  const coef = maxNorm / (norm + CLIP_EPS);
  return Math.min(coef, 1);
}

/**
 * The gradScale for an optimizer step when gradients are loss-scaled: the norm is measured on the scaled
 * gradients, so the unscaled norm is scaledNorm / lossScale; the step multiplies by clip(unscaled) / lossScale.
 */
export function unscaleAndClip(
  scaledNorm: number,
  lossScale: number,
  maxNorm: number,
): { norm: number; gradScale: number } {
  const norm = scaledNorm / lossScale;
  return { norm, gradScale: clipCoefficient(norm, maxNorm) / lossScale };
}
