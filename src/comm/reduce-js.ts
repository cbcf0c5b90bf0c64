// The reference reducer: plain loops over typed arrays (any memory), in the documented order ([Note: reduction
// order] in types.ts). It is the oracle for the wasm reducer and a fallback for transports whose data is not in
// one wasm memory (e.g. bytes received from a socket).
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../kernels/half.js';
import type { CommBuffer, CommDType, ReduceOp } from './types.js';

// The scalar conversions are the kernels' oracle (src/kernels/half.ts): one definition of 16-bit rounding for the
// whole project.
export function toF32(dtype: CommDType, bits: number): number {
  return dtype === 'bf16' ? bf16BitsToF32(bits) : f16BitsToF32(bits);
}

export function fromF32(dtype: CommDType, x: number): number {
  return dtype === 'bf16' ? f32ToBf16Bits(x) : f32ToF16Bits(x);
}

/**
 * dst[i] = reduce over srcs[0][i], srcs[1][i], ... in that order (fp32 accumulation, one rounding for 16-bit).
 * dst may be one of srcs. `divisor` is what 'avg' divides by (default srcs.length, the world size).
 */
export function reduceInto(
  dst: CommBuffer,
  srcs: readonly CommBuffer[],
  dtype: CommDType,
  op: ReduceOp,
  divisor = srcs.length,
): void {
  const n = dst.length;
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let s = 0; s < srcs.length; s++) {
      const raw = srcs[s]![i]!;
      const x = dtype === 'f32' ? raw : toF32(dtype, raw);
      if (s === 0) acc = x;
      else if (op === 'max') acc = Number.isNaN(acc) || Number.isNaN(x) ? NaN : Math.max(acc, x);
      else acc = Math.fround(acc + x);
    }
    if (op === 'avg') acc = Math.fround(acc / divisor);
    dst[i] = dtype === 'f32' ? acc : fromF32(dtype, acc);
  }
}
