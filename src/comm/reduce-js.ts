// The reference reducer: plain loops over typed arrays (any memory), in the documented order ([Note: reduction
// order] in types.ts). It is the oracle for the wasm reducer and a fallback for transports whose data is not in
// one wasm memory (e.g. bytes received from a socket).
import type { CommBuffer, CommDType, ReduceOp } from './types.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function bf16ToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

/** Round to nearest even; NaN stays a (quiet) NaN with its sign. */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** Round to nearest even (from the fp32 value: the input is an fp32 number); overflow gives infinity. */
export function f32ToF16(x: number): number {
  x = Math.fround(x);
  f32[0] = x;
  const sign = (u32[0]! >>> 16) & 0x8000;
  if (Number.isNaN(x)) return sign | 0x7e00;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // 65520 = max f16 + half an ulp: rounds up to infinity
  // quantum of the target binade (subnormals share 2^-24)
  const e = a < 2 ** -14 ? -14 : Math.floor(Math.log2(a));
  let ee = e;
  if (2 ** ee > a)
    ee--; // guard against log2 rounding
  else if (2 ** (ee + 1) <= a) ee++;
  const q = 2 ** (Math.max(ee, -14) - 10);
  const n = a / q; // exact: a is an fp32 value, q a power of two
  let r = Math.floor(n);
  const frac = n - r;
  if (frac > 0.5 || (frac === 0.5 && (r & 1) === 1)) r++;
  const v = r * q; // the rounded magnitude
  if (v === 0) return sign;
  if (v < 2 ** -14) return sign | (v / 2 ** -24);
  let be = Math.floor(Math.log2(v));
  if (2 ** be > v) be--;
  else if (2 ** (be + 1) <= v) be++;
  return sign | ((be + 15) << 10) | ((v / 2 ** be) * 1024 - 1024);
}

export function toF32(dtype: CommDType, bits: number): number {
  return dtype === 'bf16' ? bf16ToF32(bits) : f16ToF32(bits);
}

export function fromF32(dtype: CommDType, x: number): number {
  return dtype === 'bf16' ? f32ToBf16(x) : f32ToF16(x);
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
