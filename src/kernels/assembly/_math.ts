// Vector math shared by the kernels: exp (Cephes expf polynomial, ~1-2 ulp), horizontal sums, tanh via exp, and the
// row softmax both attention kernels use.

// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

// @ts-ignore: decorator
@inline export function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

/** exp(x) per lane. Inputs are clamped to [-87.3, 88.37] (so exp(-inf) gives ~1e-38, never a subnormal); NaN stays
 * NaN. Written with single-instruction ops only: pmin/pmax instead of min/max (whose NaN rules cost V8 a
 * 7-instruction sequence), and the 1.5 * 2^23 trick for rounding and for the integer exponent (instead of
 * nearest and trunc_sat), which made it about 2x faster. */
// @ts-ignore: decorator
@inline export function expv(x0: v128): v128 {
  const x = f32x4.pmax(f32x4.pmin(x0, f32x4.splat(88.3762626647949)), f32x4.splat(-87.3365478515625));
  // t = round(x log2 e) + 1.5 * 2^23: its low mantissa bits hold the rounded integer n.
  const magic = f32x4.splat(12582912.0);
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504088896341)), magic);
  const fx = f32x4.sub(t, magic);
  let r = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(fx, f32x4.splat(-2.12194440e-4)));
  let y = f32x4.splat(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(5.0000001201e-1));
  y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(y, r), r), r), f32x4.splat(1));
  const n = i32x4.sub(t, magic); // bit patterns: t - magic as integers is n
  const pow2n = i32x4.shl(i32x4.add(n, i32x4.splat(127)), 23);
  return f32x4.mul(y, pow2n);
}

/** Scalar exp through the same polynomial, so vector bodies and scalar tails agree. */
export function exps(x: f32): f32 {
  return f32x4.extract_lane(expv(f32x4.splat(x)), 0);
}

/** sigmoid(2u) = 0.5 (1 + tanh u) per lane, accurate in relative terms on both tails. */
// @ts-ignore: decorator
@inline export function sigmoid2v(u: v128): v128 {
  const e = expv(f32x4.mul(u, f32x4.splat(-2)));
  return f32x4.div(f32x4.splat(1), f32x4.add(e, f32x4.splat(1)));
}

// @ts-ignore: decorator
@inline function rowAt(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/**
 * Softmax of the f32 row[0..n) in place, zeroes row[n..w); returns log(sum exp) + max of the scores (the flash
 * kernel saves it per row; the saved-probabilities kernel ignores it).
 */
export function softmaxRowLse(row: usize, n: i32, w: i32): f32 {
  let vm = f32x4.splat(-Infinity);
  let i = 0;
  for (; i + 4 <= n; i += 4) vm = f32x4.pmax(vm, v128.load(rowAt(row, i)));
  let m = hmax(vm);
  for (; i < n; i++) m = max(m, load<f32>(rowAt(row, i)));
  const sm = f32x4.splat(m);
  let vs = f32x4.splat(0);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const e = expv(f32x4.sub(v128.load(rowAt(row, i)), sm));
    v128.store(rowAt(row, i), e);
    vs = f32x4.add(vs, e);
  }
  let s = hsum(vs);
  for (; i < n; i++) {
    const e = exps(load<f32>(rowAt(row, i)) - m);
    store<f32>(rowAt(row, i), e);
    s += e;
  }
  const inv = f32x4.splat(<f32>1 / s);
  i = 0;
  for (; i + 4 <= n; i += 4) v128.store(rowAt(row, i), f32x4.mul(v128.load(rowAt(row, i)), inv));
  for (; i < n; i++) store<f32>(rowAt(row, i), load<f32>(rowAt(row, i)) / s);
  if (n < w) memory.fill(rowAt(row, n), 0, <usize>(w - n) << 2);
  return m + <f32>Math.log(<f64>s);
}
