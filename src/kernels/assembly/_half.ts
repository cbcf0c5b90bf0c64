// fp32 <-> bf16/f16 (bit-exact with src/kernels/half.ts: round to nearest even, quiet NaN keeping the top payload
// bits, Inf, f16 subnormals). bf16 is vectorised; f16 is scalar (only used on 16-bit storage paths).

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}
// @ts-ignore: decorator
@inline function at16(base: usize, index: i32): usize {
  return base + (<usize>index << 1);
}

export function f32ToF16Bits(b: u32): u32 {
  const sign = (b >>> 16) & 0x8000;
  const exp = <i32>((b >>> 23) & 0xff);
  const mant = b & 0x7fffff;
  if (exp == 0xff) return mant != 0 ? sign | 0x7e00 | (mant >>> 13) : sign | 0x7c00;
  const e = exp - 112;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    const shift = 14 - e;
    if (shift > 24) return sign;
    const full = mant | 0x800000;
    const q = full >>> shift;
    const rem = full & ((<u32>1 << shift) - 1);
    const half = <u32>1 << (shift - 1);
    return sign | (rem > half || (rem == half && (q & 1) != 0) ? q + 1 : q);
  }
  let h = (<u32>e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1) != 0)) h++;
  return sign | h;
}

export function f16BitsToF32(h: u32): f32 {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (exp == 0) {
    const v = <f32>m * <f32>5.960464477539063e-8;
    return sign != 0 ? -v : v;
  }
  if (exp == 0x1f) return reinterpret<f32>(sign | 0x7f800000 | (m << 13));
  return reinterpret<f32>(sign | ((exp + 112) << 23) | (m << 13));
}

/** bf16x4 for lanes that are not NaN: round to nearest even. */
// @ts-ignore: decorator
@inline export function bf16Round(b: v128): v128 {
  return i32x4.shr_u(i32x4.add(i32x4.add(b, i32x4.splat(0x7fff)), v128.and(i32x4.shr_u(b, 16), i32x4.splat(1))), 16);
}

/** 4 fp32 bit patterns -> 4 bf16 patterns in the low halves of i32 lanes (a NaN is the lane that is not equal to
 * itself: the same lanes as |b| > 0x7f800000, one compare instead of an and and a compare). */
// @ts-ignore: decorator
@inline export function bf16x4(b: v128): v128 {
  const rounded = bf16Round(b);
  const quiet = v128.or(i32x4.shr_u(b, 16), i32x4.splat(0x0040));
  return v128.bitselect(quiet, rounded, f32x4.ne(b, b));
}

/** One fp32 bit pattern -> bf16 (what a lane of bf16x4 computes). */
// @ts-ignore: decorator
@inline export function bf16Scalar(b: u32): u32 {
  return (b & 0x7fffffff) > 0x7f800000 ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
}

export function castToHalf(dst: usize, src: usize, n: i32, bf16: bool): void {
  let i = 0;
  if (bf16) {
    for (; i + 8 <= n; i += 8) {
      const lo = bf16x4(v128.load(at(src, i))), hi = bf16x4(v128.load(at(src, i + 4)));
      v128.store(at16(dst, i), i16x8.narrow_i32x4_u(lo, hi));
    }
    for (; i < n; i++) {
      store<u16>(at16(dst, i), <u16>bf16Scalar(load<u32>(at(src, i))));
    }
    return;
  }
  for (; i < n; i++) store<u16>(at16(dst, i), <u16>f32ToF16Bits(load<u32>(at(src, i))));
}

export function castFromHalf(dst: usize, src: usize, n: i32, bf16: bool, accumulate: bool): void {
  let i = 0;
  if (bf16) {
    for (; i + 8 <= n; i += 8) {
      const h = v128.load(at16(src, i));
      let lo = i32x4.shl(i32x4.extend_low_i16x8_u(h), 16), hi = i32x4.shl(i32x4.extend_high_i16x8_u(h), 16);
      if (accumulate) {
        lo = f32x4.add(lo, v128.load(at(dst, i)));
        hi = f32x4.add(hi, v128.load(at(dst, i + 4)));
      }
      v128.store(at(dst, i), lo);
      v128.store(at(dst, i + 4), hi);
    }
  }
  for (; i < n; i++) {
    const h = <u32>load<u16>(at16(src, i));
    const v = bf16 ? reinterpret<f32>(h << 16) : f16BitsToF32(h);
    store<f32>(at(dst, i), accumulate ? load<f32>(at(dst, i)) + v : v);
  }
}

/** True when every 16-bit value is finite (exponent field not all ones). */
export function allFinite16(x: usize, n: i32, bf16: bool): bool {
  const mask: u16 = bf16 ? 0x7f80 : 0x7c00;
  const vm = i16x8.splat(mask);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    if (v128.any_true(i16x8.eq(v128.and(v128.load(at16(x, i)), vm), vm))) return false;
  }
  for (; i < n; i++) if ((load<u16>(at16(x, i)) & mask) == mask) return false;
  return true;
}

export function sumSquares16(x: usize, n: i32, bf16: bool): f64 {
  let acc = f64x2.splat(0);
  let s: f64 = 0;
  let i = 0;
  if (bf16) {
    for (; i + 8 <= n; i += 8) {
      const h = v128.load(at16(x, i));
      const lo = i32x4.shl(i32x4.extend_low_i16x8_u(h), 16), hi = i32x4.shl(i32x4.extend_high_i16x8_u(h), 16);
      const a = f64x2.promote_low_f32x4(lo), b = f64x2.promote_low_f32x4(v128.shuffle<f32>(lo, lo, 2, 3, 0, 1));
      const c = f64x2.promote_low_f32x4(hi), d = f64x2.promote_low_f32x4(v128.shuffle<f32>(hi, hi, 2, 3, 0, 1));
      acc = f64x2.add(acc, f64x2.add(f64x2.add(f64x2.mul(a, a), f64x2.mul(b, b)), f64x2.add(f64x2.mul(c, c), f64x2.mul(d, d))));
    }
  }
  for (; i < n; i++) {
    const h = <u32>load<u16>(at16(x, i));
    const v = <f64>(bf16 ? reinterpret<f32>(h << 16) : f16BitsToF32(h));
    s += v * v;
  }
  return s + f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
}
