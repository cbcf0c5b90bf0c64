// Causal self-attention per (batch, head) through the strided GEMM (the heads are strided views of qkv, so
// nothing is copied). att[b,h] holds softmax probabilities for t2 <= t and 0 above the diagonal (as llm.c).
// [Note: causal blocks] every product is split into blocks of RB rows (or output rows) and only touches the
// lower-triangular part it needs: rows t0..t1 of S = Q K^T need keys 0..t1 only; dV and dK rows s0..s1 sum over
// queries t >= s0 only. That does ~(1/2 + RB/2T) of the full T x T work.
const RB: i32 = 64;
import { gemm } from './_gemm';
import { hsum, softmaxRowLse } from './_math';

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
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
      const o = at(out, b * T * C + h * hs);
      for (let t0 = 0; t0 < T; t0 += RB) {
        const t1 = min(T, t0 + RB), rows = t1 - t0;
        const Pr = at(P, t0 * T);
        // S[t0:t1, 0:t1] = scale * Q[t0:t1] K[0:t1]^T
        gemm(Pr, T, at(q, t0 * C3), C3, k, C3, rows, t1, hs, false, true, false, scale, gemmScratch);
        for (let t = t0; t < t1; t++) softmaxRowLse(at(P, t * T), t + 1, T);
        // out[t0:t1] = P[t0:t1, 0:t1] V[0:t1]
        gemm(at(o, t0 * C), C, Pr, T, v, C3, rows, hs, t1, false, false, false, 1, gemmScratch);
      }
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
      for (let t0 = 0; t0 < T; t0 += RB) {
        const t1 = min(T, t0 + RB), rows = t1 - t0;
        // dP[t0:t1, 0:t1] = dO[t0:t1] V[0:t1]^T
        gemm(at(dP, t0 * T), T, at(dOh, t0 * C), C, v, C3, rows, t1, hs, false, true, false, 1, gemmScratch);
        // dS = scale * P * (dP - rowsum(P * dP)) on the causal part, 0 above the diagonal
        for (let t = t0; t < t1; t++) {
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
            v128.store(at(d, i), f32x4.mul(f32x4.mul(v128.load(at(p, i)), f32x4.sub(v128.load(at(d, i)), sd)), sc));
          }
          for (; i < n; i++) store<f32>(at(d, i), load<f32>(at(p, i)) * (load<f32>(at(d, i)) - dot) * scale);
          if (n < T) memory.fill(at(d, n), 0, <usize>(T - n) << 2);
        }
        // dQ[t0:t1] (+)= dS[t0:t1, 0:t1] K[0:t1]
        gemm(at(dq, t0 * C3), C3, at(dP, t0 * T), T, k, C3, rows, hs, t1, false, false, accumulate, 1, gemmScratch);
      }
      for (let s0 = 0; s0 < T; s0 += RB) {
        const s1 = min(T, s0 + RB), rows = s1 - s0, kk = T - s0;
        // dV[s0:s1] (+)= P[s0:T, s0:s1]^T dO[s0:T];  dK[s0:s1] (+)= dS[s0:T, s0:s1]^T Q[s0:T]
        gemm(at(dv, s0 * C3), C3, at(P, s0 * T + s0), T, at(dOh, s0 * C), C, rows, hs, kk, true, false, accumulate, 1, gemmScratch);
        gemm(at(dk, s0 * C3), C3, at(dP, s0 * T + s0), T, at(q, s0 * C3), C3, rows, hs, kk, true, false, accumulate, 1, gemmScratch);
      }
    }
  }
}
