// Elementwise and row-broadcast kernels (SIMD bodies, scalar tails).
import { fmadd } from './_gemm';
import { sigmoid2v } from './_math';

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/** y[i] += a * x[i] over n (also the row kernel of biasAdd / biasBackward / embeddingBackward). */
export function axpy(y: usize, a: f32, x: usize, n: i32): void {
  const va = f32x4.splat(a);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    v128.store(at(y, i), fmadd(va, v128.load(at(x, i)), v128.load(at(y, i))));
    v128.store(at(y, i + 4), fmadd(va, v128.load(at(x, i + 4)), v128.load(at(y, i + 4))));
  }
  for (; i + 4 <= n; i += 4) v128.store(at(y, i), fmadd(va, v128.load(at(x, i)), v128.load(at(y, i))));
  for (; i < n; i++) store<f32>(at(y, i), load<f32>(at(y, i)) + a * load<f32>(at(x, i)));
}

export function add(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(out, i), f32x4.add(v128.load(at(a, i)), v128.load(at(b, i))));
  for (; i < n; i++) store<f32>(at(out, i), load<f32>(at(a, i)) + load<f32>(at(b, i)));
}

/** y[i] += x[i] (exact adds; used by bias and embedding scatter). */
function addInto(y: usize, x: usize, n: i32): void {
  add(y, y, x, n);
}

export function scale(x: usize, a: f32, n: i32): void {
  const va = f32x4.splat(a);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(x, i), f32x4.mul(v128.load(at(x, i)), va));
  for (; i < n; i++) store<f32>(at(x, i), load<f32>(at(x, i)) * a);
}

export function fill(x: usize, value: f32, n: i32): void {
  const v = f32x4.splat(value);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(x, i), v);
  for (; i < n; i++) store<f32>(at(x, i), value);
}

export function copy(dst: usize, src: usize, bytes: i32): void {
  memory.copy(dst, src, <usize>bytes);
}

export function biasAdd(Y: usize, bias: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) addInto(at(Y, r * cols), bias, cols);
}

export function biasBackward(dbias: usize, dY: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) addInto(dbias, at(dY, r * cols), cols);
}

const GELU_S: f32 = 0.7978845608028654; // sqrt(2/pi)
const GELU_C: f32 = 0.044715;

// @ts-ignore: decorator
@inline function geluv(x: v128): v128 {
  const u = f32x4.mul(f32x4.splat(GELU_S), fmadd(f32x4.mul(f32x4.splat(GELU_C), x), f32x4.mul(x, x), x));
  return f32x4.mul(x, sigmoid2v(u));
}

// @ts-ignore: decorator
@inline function geluGradv(x: v128, dy: v128): v128 {
  // With q = 0.5 (1 + tanh u) = sigmoid(2u):  g = q + 0.5 x (1 - tanh^2 u) u' = q + 2 x q (1 - q) u'.
  const one = f32x4.splat(1);
  const x2 = f32x4.mul(x, x);
  const u = f32x4.mul(f32x4.splat(GELU_S), fmadd(f32x4.mul(f32x4.splat(GELU_C), x), x2, x));
  const q = sigmoid2v(u);
  const du = f32x4.mul(f32x4.splat(GELU_S), fmadd(f32x4.splat(3 * GELU_C), x2, one));
  const g = f32x4.add(q, f32x4.mul(f32x4.mul(f32x4.add(x, x), f32x4.mul(q, f32x4.sub(one, q))), du));
  return f32x4.mul(g, dy);
}

// gelu(x) = 0.5 x (1 + tanh u) = x sigmoid(2u): no cancellation for negative x (tanh u near -1).
// Scalar tails go through a zero-padded vector, so both paths round the same way.
export function geluForward(Y: usize, X: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(Y, i), geluv(v128.load(at(X, i))));
  if (i < n) storePartial(at(Y, i), geluv(loadPartial(at(X, i), n - i)), n - i);
}

export function geluBackward(dX: usize, X: usize, dY: usize, n: i32, accumulate: bool): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    let d = geluGradv(v128.load(at(X, i)), v128.load(at(dY, i)));
    if (accumulate) d = f32x4.add(d, v128.load(at(dX, i)));
    v128.store(at(dX, i), d);
  }
  if (i < n) {
    const rem = n - i;
    let d = geluGradv(loadPartial(at(X, i), rem), loadPartial(at(dY, i), rem));
    if (accumulate) d = f32x4.add(d, loadPartial(at(dX, i), rem));
    storePartial(at(dX, i), d, rem);
  }
}

function loadPartial(p: usize, n: i32): v128 {
  let v = f32x4.splat(0);
  if (n > 0) v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

function storePartial(p: usize, v: v128, n: i32): void {
  if (n > 0) store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

export function embeddingForward(out: usize, idx: usize, table: usize, n: i32, C: i32): void {
  for (let i = 0; i < n; i++) {
    const row = load<i32>(idx + (<usize>i << 2));
    memory.copy(at(out, i * C), at(table, row * C), <usize>C << 2);
  }
}

export function embeddingBackward(dtable: usize, idx: usize, dout: usize, n: i32, C: i32): void {
  for (let i = 0; i < n; i++) {
    const row = load<i32>(idx + (<usize>i << 2));
    addInto(at(dtable, row * C), at(dout, i * C), C);
  }
}

export function sumSquares(x: usize, n: i32): f64 {
  let acc = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(at(x, i));
    const a = f64x2.promote_low_f32x4(v), b = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1));
    acc = f64x2.add(acc, f64x2.add(f64x2.mul(a, a), f64x2.mul(b, b)));
  }
  let s = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (; i < n; i++) {
    const v = <f64>load<f32>(at(x, i));
    s += v * v;
  }
  return s;
}

export function allFinite(x: usize, n: i32): bool {
  const m = i32x4.splat(0x7f800000);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const a = i32x4.eq(v128.and(v128.load(at(x, i)), m), m), b = i32x4.eq(v128.and(v128.load(at(x, i + 4)), m), m);
    const c = i32x4.eq(v128.and(v128.load(at(x, i + 8)), m), m), d = i32x4.eq(v128.and(v128.load(at(x, i + 12)), m), m);
    if (v128.any_true(v128.or(v128.or(a, b), v128.or(c, d)))) return false;
  }
  for (; i < n; i++) if ((load<u32>(at(x, i)) & 0x7f800000) == 0x7f800000) return false;
  return true;
}
