// Causal self-attention per (batch, head) through the strided GEMM (the heads are strided views of qkv, so
// nothing is copied). att[b,h] holds softmax probabilities for t2 <= t and 0 above the diagonal (as llm.c).
import { gemm } from './_gemm';
import { expv, exps, hmax, hsum } from './_math';

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/** Softmax of row[0..n) in place, zeroes row[n..T). */
function causalSoftmaxRow(row: usize, n: i32, T: i32): void {
  let vm = f32x4.splat(-Infinity);
  let i = 0;
  for (; i + 4 <= n; i += 4) vm = f32x4.pmax(vm, v128.load(at(row, i)));
  let m = hmax(vm);
  for (; i < n; i++) m = max(m, load<f32>(at(row, i)));
  const sm = f32x4.splat(m);
  let vs = f32x4.splat(0);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const e = expv(f32x4.sub(v128.load(at(row, i)), sm));
    v128.store(at(row, i), e);
    vs = f32x4.add(vs, e);
  }
  let s = hsum(vs);
  for (; i < n; i++) {
    const e = exps(load<f32>(at(row, i)) - m);
    store<f32>(at(row, i), e);
    s += e;
  }
  const inv = f32x4.splat(<f32>1 / s);
  i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(row, i), f32x4.mul(v128.load(at(row, i)), inv));
  for (; i < n; i++) store<f32>(at(row, i), load<f32>(at(row, i)) / s);
  if (n < T) memory.fill(at(row, n), 0, <usize>(T - n) << 2);
}

export function attentionForward(out: usize, att: usize, qkv: usize, scratch: usize, gemmScratch: usize,
  B: i32, T: i32, C: i32, nh: i32): void {
  const hs = C / nh;
  const C3 = 3 * C;
  const scale = <f32>(1.0 / Math.sqrt(<f64>hs));
  for (let b = 0; b < B; b++) {
    const base = at(qkv, b * T * C3);
    for (let h = 0; h < nh; h++) {
      const q = at(base, h * hs), k = at(base, C + h * hs), v = at(base, 2 * C + h * hs);
      const P = at(att, (b * nh + h) * T * T);
      // S = scale * Q K^T   [T,T]
      gemm(P, T, q, C3, k, C3, T, T, hs, false, true, false, scale, gemmScratch);
      for (let t = 0; t < T; t++) causalSoftmaxRow(at(P, t * T), t + 1, T);
      // out_h = P V   [T,hs]
      gemm(at(out, b * T * C + h * hs), C, P, T, v, C3, T, hs, T, false, false, false, 1, gemmScratch);
    }
  }
}

export function attentionBackward(dqkv: usize, dout: usize, qkv: usize, att: usize, scratch: usize, gemmScratch: usize,
  B: i32, T: i32, C: i32, nh: i32, accumulate: bool): void {
  const hs = C / nh;
  const C3 = 3 * C;
  const scale = <f32>(1.0 / Math.sqrt(<f64>hs));
  const dP = scratch;
  for (let b = 0; b < B; b++) {
    const base = at(qkv, b * T * C3), dbase = at(dqkv, b * T * C3);
    const dO = at(dout, b * T * C);
    for (let h = 0; h < nh; h++) {
      const q = at(base, h * hs), k = at(base, C + h * hs), v = at(base, 2 * C + h * hs);
      const dq = at(dbase, h * hs), dk = at(dbase, C + h * hs), dv = at(dbase, 2 * C + h * hs);
      const dOh = at(dO, h * hs);
      const P = at(att, (b * nh + h) * T * T);
      // dP = dO V^T [T,T];  dV (+)= P^T dO [T,hs]
      gemm(dP, T, dOh, C, v, C3, T, T, hs, false, true, false, 1, gemmScratch);
      gemm(dv, C3, P, T, dOh, C, T, hs, T, true, false, accumulate, 1, gemmScratch);
      // dS = scale * P * (dP - rowsum(P * dP)), causal rows only (P is 0 above the diagonal).
      for (let t = 0; t < T; t++) {
        const p = at(P, t * T), d = at(dP, t * T);
        const n = t + 1;
        let vd = f32x4.splat(0);
        let i = 0;
        for (; i + 4 <= n; i += 4) vd = f32x4.add(vd, f32x4.mul(v128.load(at(p, i)), v128.load(at(d, i))));
        let dot = hsum(vd);
        for (; i < n; i++) dot += load<f32>(at(p, i)) * load<f32>(at(d, i));
        const sd = f32x4.splat(dot), sc = f32x4.splat(scale);
        i = 0;
        for (; i + 4 <= n; i += 4) {
          const x = f32x4.mul(f32x4.mul(v128.load(at(p, i)), f32x4.sub(v128.load(at(d, i)), sd)), sc);
          v128.store(at(d, i), x);
        }
        for (; i < n; i++) store<f32>(at(d, i), load<f32>(at(p, i)) * (load<f32>(at(d, i)) - dot) * scale);
        if (n < T) memory.fill(at(d, n), 0, <usize>(T - n) << 2);
      }
      // dQ (+)= dS K;  dK (+)= dS^T Q
      gemm(dq, C3, dP, T, k, C3, T, hs, T, false, false, accumulate, 1, gemmScratch);
      gemm(dk, C3, dP, T, q, C3, T, hs, T, true, false, accumulate, 1, gemmScratch);
    }
  }
}
