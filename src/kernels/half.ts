// Scalar fp32 <-> 16-bit conversions (bit patterns), the oracle for the casting kernels and the one source of
// these conversions (src/tensor/dtype.ts builds its value and bulk forms on them; comm may import them too).
// Rounding is to nearest, ties to even. NaN stays NaN: the sign and the top payload bits are kept and the quiet
// bit is set (so a NaN never rounds into Inf); Inf stays Inf; fp32 values beyond the 16-bit range round to Inf;
// f16 subnormals are produced and read exactly.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** fp32 value -> bf16 bit pattern (round to nearest even). */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  return bitsToBf16(u32[0]!);
}

/** fp32 bit pattern -> bf16 bit pattern (works on bits, so NaN payloads survive). */
export function bitsToBf16(b: number): number {
  b >>>= 0;
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x0040) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** bf16 bit pattern -> fp32 bit pattern (exact). */
export function bf16ToF32Bits(h: number): number {
  return ((h & 0xffff) << 16) >>> 0;
}

/** bf16 bit pattern -> fp32 value (exact). */
export function bf16BitsToF32(h: number): number {
  u32[0] = bf16ToF32Bits(h);
  return f32[0]!;
}

/** fp32 value -> f16 bit pattern (round to nearest even, subnormals, overflow to Inf). */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  return bitsToF16(u32[0]!);
}

/** fp32 bit pattern -> f16 bit pattern. */
export function bitsToF16(b: number): number {
  b >>>= 0;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return mant !== 0 ? sign | 0x7e00 | (mant >>> 13) : sign | 0x7c00;
  const e = exp - 112; // f16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // f16 subnormal (or zero): m = full * 2^(e - 14) rounded to an integer.
    const shift = 14 - e;
    if (shift > 24) return sign;
    const full = mant | 0x800000;
    const q = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    const r = rem > half || (rem === half && (q & 1) !== 0) ? q + 1 : q;
    return sign | r;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // a carry into the exponent is still correct
  return sign | h;
}

/** f16 bit pattern -> fp32 bit pattern (exact; NaN stays NaN with its payload, subnormals are normalised). */
export function f16ToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant === 0 ? 0 : 0x400000 | (mant << 13))) >>> 0;
  if (exp === 0) {
    if (mant === 0) return sign >>> 0;
    // subnormal: normalise so the leading one becomes the implicit bit
    let e = -14;
    while ((mant & 0x400) === 0) {
      mant <<= 1;
      e -= 1;
    }
    return (sign | ((e + 127) << 23) | ((mant & 0x3ff) << 13)) >>> 0;
  }
  return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
}

/** f16 bit pattern -> fp32 value (exact). */
export function f16BitsToF32(h: number): number {
  u32[0] = f16ToF32Bits(h);
  return f32[0]!;
}

/** Converts by format (bits in, bits out). */
export function bitsToHalf(bits: number, type: 'bf16' | 'f16'): number {
  return type === 'bf16' ? bitsToBf16(bits) : bitsToF16(bits);
}

/** Converts by format. */
export function f32ToHalfBits(x: number, type: 'bf16' | 'f16'): number {
  return type === 'bf16' ? f32ToBf16Bits(x) : f32ToF16Bits(x);
}
export function halfBitsToF32(h: number, type: 'bf16' | 'f16'): number {
  return type === 'bf16' ? bf16BitsToF32(h) : f16BitsToF32(h);
}
