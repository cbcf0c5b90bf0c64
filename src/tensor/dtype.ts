// 16-bit storage formats and their conversion to and from fp32 (the compute type).
//
// bf16: 1 sign, 8 exponent, 7 mantissa bits (the top half of an fp32).
// f16:  1 sign, 5 exponent (bias 15), 10 mantissa bits (IEEE 754 binary16).
// Encoding rounds to nearest, ties to even; finite values past the largest finite value round to +-Inf exactly as
// IEEE 754 says (a value at or above max + half an ulp becomes Inf); NaN stays NaN and is made quiet (the top
// mantissa bit is set) with as much of its payload as fits; subnormals are produced and decoded in both directions.
// Everything works on bit patterns, because a JS number cannot carry a NaN payload or be relied on to keep it.

import {
  bf16ToF32Bits,
  bitsToBf16 as f32BitsToBf16,
  bitsToF16 as f32BitsToF16,
  f16ToF32Bits,
} from '../kernels/half.js';

export type DType = 'f32' | 'bf16' | 'f16' | 'i32';

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { f32: 4, bf16: 2, f16: 2, i32: 4 };

// One scratch word to move between a float and its bits (module-local and stateless between calls).
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The bits of fround(x). */
export function f32Bits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0]!;
}

/** The fp32 value with these bits (NaN payloads are not preserved by JS numbers). */
export function f32FromBits(bits: number): number {
  scratchU32[0] = bits;
  return scratchF32[0]!;
}

// ---- the bit-level conversions: one source, src/kernels/half.ts (the casting kernels' oracle)

export {
  bitsToBf16 as f32BitsToBf16,
  bf16ToF32Bits,
  bitsToF16 as f32BitsToF16,
  f16ToF32Bits,
} from '../kernels/half.js';

// ---- bf16

/** fp32 value (the number is first rounded to fp32) -> bf16 bits. */
export function f32ToBf16(x: number): number {
  return f32BitsToBf16(f32Bits(x));
}

/** bf16 bits -> its value. */
export function bf16ToF32(h: number): number {
  return f32FromBits(bf16ToF32Bits(h));
}

// ---- f16

/** fp32 value (rounded to fp32 first) -> f16 bits. */
export function f32ToF16(x: number): number {
  return f32BitsToF16(f32Bits(x));
}

/** f16 bits -> its value. */
export function f16ToF32(h: number): number {
  return f32FromBits(f16ToF32Bits(h));
}

// ---- bulk forms (bit-level, so NaN payloads survive; dst may be given to avoid an allocation)

function checkLength(src: { length: number }, dst: { length: number }, what: string): void {
  if (dst.length < src.length) {
    throw new RangeError(
      `${what}: destination holds ${dst.length} elements, source has ${src.length}; dst.length must be >= src.length`,
    );
  }
}

function bitsOf(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

export function f32ToBf16Array(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  checkLength(src, dst, 'f32ToBf16Array');
  const s = bitsOf(src);
  for (let i = 0; i < s.length; i++) dst[i] = f32BitsToBf16(s[i]!);
  return dst;
}

export function bf16ToF32Array(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  checkLength(src, dst, 'bf16ToF32Array');
  const d = bitsOf(dst);
  for (let i = 0; i < src.length; i++) d[i] = src[i]! << 16;
  return dst;
}

export function f32ToF16Array(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  checkLength(src, dst, 'f32ToF16Array');
  const s = bitsOf(src);
  for (let i = 0; i < s.length; i++) dst[i] = f32BitsToF16(s[i]!);
  return dst;
}

export function f16ToF32Array(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  checkLength(src, dst, 'f16ToF32Array');
  const d = bitsOf(dst);
  for (let i = 0; i < src.length; i++) d[i] = f16ToF32Bits(src[i]!);
  return dst;
}

/** Bulk conversion by storage type name. */
export function halfToF32Array(src: Uint16Array, type: 'bf16' | 'f16', dst?: Float32Array): Float32Array {
  return type === 'bf16' ? bf16ToF32Array(src, dst) : f16ToF32Array(src, dst);
}

export function f32ToHalfArray(src: Float32Array, type: 'bf16' | 'f16', dst?: Uint16Array): Uint16Array {
  return type === 'bf16' ? f32ToBf16Array(src, dst) : f32ToF16Array(src, dst);
}
