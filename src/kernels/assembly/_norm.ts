// Row-wise kernels: LayerNorm forward/backward, softmax, cross-entropy (fp32 sums in 4 lanes).
import { expv, exps, hmax, hsum } from './_math';

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

function rowSum(x: usize, n: i32): f32 {
  let v = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) v = f32x4.add(v, v128.load(at(x, i)));
  let s = hsum(v);
  for (; i < n; i++) s += load<f32>(at(x, i));
  return s;
}

function rowMax(x: usize, n: i32): f32 {
  let v = f32x4.splat(-Infinity);
  let i = 0;
  // pmax is one instruction (max's NaN rules cost a sequence); a NaN input still reaches the output through exp.
  for (; i + 4 <= n; i += 4) v = f32x4.pmax(v, v128.load(at(x, i)));
  let m = hmax(v);
  for (; i < n; i++) m = max(m, load<f32>(at(x, i)));
  return m;
}

/** sum_i exp(x[i] - m); when y != 0 also stores the exponentials there. */
function rowSumExp(y: usize, x: usize, n: i32, m: f32): f32 {
  const vm = f32x4.splat(m);
  let v = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const e = expv(f32x4.sub(v128.load(at(x, i)), vm));
    if (y != 0) v128.store(at(y, i), e);
    v = f32x4.add(v, e);
  }
  let s = hsum(v);
  for (; i < n; i++) {
    const e = exps(load<f32>(at(x, i)) - m);
    if (y != 0) store<f32>(at(y, i), e);
    s += e;
  }
  return s;
}

export function layerNormForward(Y: usize, mean: usize, rstd: usize, X: usize, gamma: usize, beta: usize,
  rows: i32, cols: i32, eps: f32): void {
  for (let r = 0; r < rows; r++) {
    const x = at(X, r * cols), y = at(Y, r * cols);
    const mu = rowSum(x, cols) / <f32>cols;
    const vmu = f32x4.splat(mu);
    let vv = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= cols; i += 4) {
      const d = f32x4.sub(v128.load(at(x, i)), vmu);
      vv = f32x4.add(vv, f32x4.mul(d, d));
    }
    let var_ = hsum(vv);
    for (; i < cols; i++) {
      const d = load<f32>(at(x, i)) - mu;
      var_ += d * d;
    }
    const rs = <f32>1 / Mathf.sqrt(var_ / <f32>cols + eps);
    const vrs = f32x4.splat(rs);
    i = 0;
    for (; i + 4 <= cols; i += 4) {
      const n = f32x4.mul(f32x4.sub(v128.load(at(x, i)), vmu), vrs);
      v128.store(at(y, i), f32x4.add(f32x4.mul(n, v128.load(at(gamma, i))), v128.load(at(beta, i))));
    }
    for (; i < cols; i++) store<f32>(at(y, i), (load<f32>(at(x, i)) - mu) * rs * load<f32>(at(gamma, i)) + load<f32>(at(beta, i)));
    store<f32>(at(mean, r), mu);
    store<f32>(at(rstd, r), rs);
  }
}

export function layerNormBackward(dX: usize, dGamma: usize, dBeta: usize, dY: usize, X: usize, mean: usize,
  rstd: usize, gamma: usize, rows: i32, cols: i32, accumulate: bool): void {
  for (let r = 0; r < rows; r++) {
    const x = at(X, r * cols), dy = at(dY, r * cols), dx = at(dX, r * cols);
    const mu = load<f32>(at(mean, r)), rs = load<f32>(at(rstd, r));
    const vmu = f32x4.splat(mu), vrs = f32x4.splat(rs);
    let va = f32x4.splat(0), vb = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= cols; i += 4) {
      const xhat = f32x4.mul(f32x4.sub(v128.load(at(x, i)), vmu), vrs);
      const dn = f32x4.mul(v128.load(at(gamma, i)), v128.load(at(dy, i)));
      va = f32x4.add(va, dn);
      vb = f32x4.add(vb, f32x4.mul(dn, xhat));
    }
    let a = hsum(va), b = hsum(vb);
    for (; i < cols; i++) {
      const xhat = (load<f32>(at(x, i)) - mu) * rs;
      const dn = load<f32>(at(gamma, i)) * load<f32>(at(dy, i));
      a += dn;
      b += dn * xhat;
    }
    a /= <f32>cols;
    b /= <f32>cols;
    const sa = f32x4.splat(a), sb = f32x4.splat(b);
    i = 0;
    for (; i + 4 <= cols; i += 4) {
      const xhat = f32x4.mul(f32x4.sub(v128.load(at(x, i)), vmu), vrs);
      const g = v128.load(at(dy, i));
      v128.store(at(dBeta, i), f32x4.add(v128.load(at(dBeta, i)), g));
      v128.store(at(dGamma, i), f32x4.add(v128.load(at(dGamma, i)), f32x4.mul(xhat, g)));
      const dn = f32x4.mul(v128.load(at(gamma, i)), g);
      let d = f32x4.mul(vrs, f32x4.sub(f32x4.sub(dn, sa), f32x4.mul(xhat, sb)));
      if (accumulate) d = f32x4.add(d, v128.load(at(dx, i)));
      v128.store(at(dx, i), d);
    }
    for (; i < cols; i++) {
      const xhat = (load<f32>(at(x, i)) - mu) * rs;
      const g = load<f32>(at(dy, i));
      store<f32>(at(dBeta, i), load<f32>(at(dBeta, i)) + g);
      store<f32>(at(dGamma, i), load<f32>(at(dGamma, i)) + xhat * g);
      const d = rs * (load<f32>(at(gamma, i)) * g - a - xhat * b);
      store<f32>(at(dx, i), accumulate ? load<f32>(at(dx, i)) + d : d);
    }
  }
}

export function softmax(Y: usize, X: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const x = at(X, r * cols), y = at(Y, r * cols);
    const s = rowSumExp(y, x, cols, rowMax(x, cols));
    const inv = <f32>1 / s;
    const vi = f32x4.splat(inv);
    let i = 0;
    for (; i + 4 <= cols; i += 4) v128.store(at(y, i), f32x4.mul(v128.load(at(y, i)), vi));
    for (; i < cols; i++) store<f32>(at(y, i), load<f32>(at(y, i)) * inv);
  }
}

export function crossEntropyForward(losses: usize, logits: usize, targets: usize, N: i32, V: i32): void {
  for (let r = 0; r < N; r++) {
    const t = load<i32>(targets + (<usize>r << 2));
    if (t < 0) {
      store<f32>(at(losses, r), 0);
      continue;
    }
    const x = at(logits, r * V);
    const m = rowMax(x, V);
    const s = rowSumExp(0, x, V, m);
    store<f32>(at(losses, r), Mathf.log(s) + m - load<f32>(at(x, t)));
  }
}

export function crossEntropyBackward(dlogits: usize, logits: usize, targets: usize, N: i32, V: i32, dscale: f32): void {
  for (let r = 0; r < N; r++) {
    const t = load<i32>(targets + (<usize>r << 2));
    const d = at(dlogits, r * V);
    if (t < 0) {
      memory.fill(d, 0, <usize>V << 2);
      continue;
    }
    const x = at(logits, r * V);
    const s = rowSumExp(d, x, V, rowMax(x, V));
    const k = dscale / s;
    const vk = f32x4.splat(k);
    let i = 0;
    for (; i + 4 <= V; i += 4) v128.store(at(d, i), f32x4.mul(v128.load(at(d, i)), vk));
    for (; i < V; i++) store<f32>(at(d, i), load<f32>(at(d, i)) * k);
    store<f32>(at(d, t), load<f32>(at(d, t)) - dscale);
  }
}
