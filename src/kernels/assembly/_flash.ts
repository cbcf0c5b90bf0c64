// Fused causal attention that saves no T x T matrix (FlashAttention's memory scheme): forward keeps the output and
// one log-sum-exp per (batch, head, row); backward recomputes the scores of one block of query rows at a time.
// [Note: flash blocks] a block is RB query rows t0..t1 against their causal keys 0..t1, all of them at once: its
// scores P [rows, t1] and dP live in a per-call workspace of 2 x RB x T floats (flashAttentionScratchBytes), never in
// the saved state. With every key of a row in the block, softmax needs no online rescaling, rowsum(P * dP) is
// exact, and the products are the same strided GEMMs as _attention.ts's (so the forward costs what it cost; the
// backward adds one Q K^T per block). dK and dV of keys 0..t1 accumulate over the query blocks.
const RB: i32 = 64;
import { gemm } from './_gemm';
import { expv, exps, hsum, softmaxRowLse } from './_math';

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/** row[0..n) = exp(row - lse) (the saved softmax, recomputed), zeroes row[n..w). */
function expRow(row: usize, n: i32, w: i32, lse: f32): void {
  const sl = f32x4.splat(lse);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(row, i), expv(f32x4.sub(v128.load(at(row, i)), sl)));
  for (; i < n; i++) store<f32>(at(row, i), exps(load<f32>(at(row, i)) - lse));
  if (n < w) memory.fill(at(row, n), 0, <usize>(w - n) << 2);
}

export function flashAttentionForward(out: usize, lse: usize, qkv: usize, scratch: usize, gemmScratch: usize,
  B: i32, T: i32, C: i32, nh: i32): void {
  const hs = C / nh;
  const C3 = 3 * C;
  const scale = <f32>(1.0 / Math.sqrt(<f64>hs));
  const P = scratch; // [RB, T]
  for (let b = 0; b < B; b++) {
    const base = at(qkv, b * T * C3);
    for (let h = 0; h < nh; h++) {
      const q = at(base, h * hs), k = at(base, C + h * hs), v = at(base, 2 * C + h * hs);
      const o = at(out, b * T * C + h * hs);
      const L = at(lse, (b * nh + h) * T);
      for (let t0 = 0; t0 < T; t0 += RB) {
        const t1 = min(T, t0 + RB), rows = t1 - t0;
        // S[t0:t1, 0:t1] = scale * Q[t0:t1] K[0:t1]^T, row r at P + r * T
        gemm(P, T, at(q, t0 * C3), C3, k, C3, rows, t1, hs, false, true, false, scale, gemmScratch);
        for (let t = t0; t < t1; t++) store<f32>(at(L, t), softmaxRowLse(at(P, (t - t0) * T), t + 1, t1));
        // out[t0:t1] = P V[0:t1]
        gemm(at(o, t0 * C), C, P, T, v, C3, rows, hs, t1, false, false, false, 1, gemmScratch);
      }
    }
  }
}

export function flashAttentionBackward(dqkv: usize, dout: usize, qkv: usize, lse: usize, scratch: usize,
  gemmScratch: usize, B: i32, T: i32, C: i32, nh: i32, accumulate: bool): void {
  const hs = C / nh;
  const C3 = 3 * C;
  const scale = <f32>(1.0 / Math.sqrt(<f64>hs));
  const P = scratch;
  const dP = at(scratch, min(RB, T) * T);
  for (let b = 0; b < B; b++) {
    const base = at(qkv, b * T * C3), dbase = at(dqkv, b * T * C3);
    const dO = at(dout, b * T * C);
    for (let h = 0; h < nh; h++) {
      const q = at(base, h * hs), k = at(base, C + h * hs), v = at(base, 2 * C + h * hs);
      const dq = at(dbase, h * hs), dk = at(dbase, C + h * hs), dv = at(dbase, 2 * C + h * hs);
      const dOh = at(dO, h * hs);
      const L = at(lse, (b * nh + h) * T);
      if (!accumulate) {
        // dK and dV sum over query blocks: start them at 0 (dQ is written once per block)
        for (let t = 0; t < T; t++) {
          memory.fill(at(dk, t * C3), 0, <usize>hs << 2);
          memory.fill(at(dv, t * C3), 0, <usize>hs << 2);
        }
      }
      for (let t0 = 0; t0 < T; t0 += RB) {
        const t1 = min(T, t0 + RB), rows = t1 - t0;
        // P = exp(scale * Q K^T - lse) and dP = dO V^T on the causal part of rows t0..t1
        gemm(P, T, at(q, t0 * C3), C3, k, C3, rows, t1, hs, false, true, false, scale, gemmScratch);
        for (let t = t0; t < t1; t++) expRow(at(P, (t - t0) * T), t + 1, t1, load<f32>(at(L, t)));
        gemm(dP, T, at(dOh, t0 * C), C, v, C3, rows, t1, hs, false, true, false, 1, gemmScratch);
        // dS = scale * P * (dP - rowsum(P * dP)), 0 above the diagonal (P is 0 there)
        for (let t = t0; t < t1; t++) {
          const p = at(P, (t - t0) * T), d = at(dP, (t - t0) * T);
          const n = t + 1;
          let vd = f32x4.splat(0);
          let i = 0;
          for (; i + 4 <= n; i += 4) vd = f32x4.add(vd, f32x4.mul(v128.load(at(p, i)), v128.load(at(d, i))));
          let dot = hsum(vd);
          for (; i < n; i++) dot += load<f32>(at(p, i)) * load<f32>(at(d, i));
          const sd = f32x4.splat(dot), sc = f32x4.splat(scale);
          i = 0;
          for (; i + 4 <= n; i += 4) {
            v128.store(at(d, i), f32x4.mul(f32x4.mul(v128.load(at(p, i)), f32x4.sub(v128.load(at(d, i)), sd)), sc));
          }
          for (; i < n; i++) store<f32>(at(d, i), load<f32>(at(p, i)) * (load<f32>(at(d, i)) - dot) * scale);
          if (n < t1) memory.fill(at(d, n), 0, <usize>(t1 - n) << 2);
        }
        // dQ[t0:t1] (+)= dS K[0:t1];  dK[0:t1] += dS^T Q[t0:t1];  dV[0:t1] += P^T dO[t0:t1]
        gemm(at(dq, t0 * C3), C3, dP, T, k, C3, rows, hs, t1, false, false, accumulate, 1, gemmScratch);
        gemm(dk, C3, dP, T, at(q, t0 * C3), C3, t1, hs, rows, true, false, true, 1, gemmScratch);
        gemm(dv, C3, P, T, at(dOh, t0 * C), C, t1, hs, rows, true, false, true, 1, gemmScratch);
      }
    }
  }
}
