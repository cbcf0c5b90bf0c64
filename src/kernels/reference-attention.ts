// Causal self-attention in plain loops (the oracle for the wasm kernel). Follows llm.c's attention_forward /
// attention_backward: att[b,h,t,t2] holds softmax probabilities for t2 <= t and 0 above the diagonal.

/**
 * out [B,T,C], att [B,nh,T,T], qkv [B,T,3C]; all arrays are views of the whole memory (f32), offsets in elements.
 */
export function attentionForwardRef(
  m: Float32Array,
  out: number,
  att: number,
  qkv: number,
  B: number,
  T: number,
  C: number,
  nh: number,
): void {
  const hs = C / nh;
  const scale = 1 / Math.sqrt(hs);
  const C3 = 3 * C;
  const row = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nh; h++) {
      const attBH = att + (b * nh + h) * T * T;
      for (let t = 0; t < T; t++) {
        const q = qkv + (b * T + t) * C3 + h * hs;
        let max = -Infinity;
        for (let t2 = 0; t2 <= t; t2++) {
          const k = qkv + (b * T + t2) * C3 + C + h * hs;
          let s = 0;
          for (let i = 0; i < hs; i++) s += m[q + i]! * m[k + i]!;
          s *= scale;
          row[t2] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          const e = Math.exp(row[t2]! - max);
          row[t2] = e;
          sum += e;
        }
        const a = attBH + t * T;
        for (let t2 = 0; t2 < T; t2++) m[a + t2] = t2 <= t ? row[t2]! / sum : 0;
        const o = out + (b * T + t) * C + h * hs;
        for (let i = 0; i < hs; i++) {
          let acc = 0;
          for (let t2 = 0; t2 <= t; t2++) acc += m[a + t2]! * m[qkv + (b * T + t2) * C3 + 2 * C + h * hs + i]!;
          m[o + i] = acc;
        }
      }
    }
  }
}

export function attentionBackwardRef(
  m: Float32Array,
  dqkv: number,
  dout: number,
  qkv: number,
  att: number,
  B: number,
  T: number,
  C: number,
  nh: number,
  accumulate: boolean,
): void {
  const hs = C / nh;
  const scale = 1 / Math.sqrt(hs);
  const C3 = 3 * C;
  // Accumulate in f64 locally, then write (or add) once, so `accumulate` is a single final decision.
  const d = new Float64Array(B * T * C3);
  const datt = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nh; h++) {
      const attBH = att + (b * nh + h) * T * T;
      for (let t = 0; t < T; t++) {
        const a = attBH + t * T;
        const dO = dout + (b * T + t) * C + h * hs;
        // datt[t2] = dout[t] . v[t2];  dv[t2] += att[t,t2] * dout[t]
        for (let t2 = 0; t2 <= t; t2++) {
          const v = qkv + (b * T + t2) * C3 + 2 * C + h * hs;
          const dv = (b * T + t2) * C3 + 2 * C + h * hs;
          const p = m[a + t2]!;
          let s = 0;
          for (let i = 0; i < hs; i++) {
            s += m[dO + i]! * m[v + i]!;
            d[dv + i] += p * m[dO + i]!;
          }
          datt[t2] = s;
        }
        // softmax backward: dpre[t2] = p[t2] * (datt[t2] - sum_j p[j] datt[j])
        let dot = 0;
        for (let t2 = 0; t2 <= t; t2++) dot += m[a + t2]! * datt[t2]!;
        const q = qkv + (b * T + t) * C3 + h * hs;
        const dq = (b * T + t) * C3 + h * hs;
        for (let t2 = 0; t2 <= t; t2++) {
          const dpre = m[a + t2]! * (datt[t2]! - dot) * scale;
          const k = qkv + (b * T + t2) * C3 + C + h * hs;
          const dk = (b * T + t2) * C3 + C + h * hs;
          for (let i = 0; i < hs; i++) {
            d[dq + i] += dpre * m[k + i]!;
            d[dk + i] += dpre * m[q + i]!;
          }
        }
      }
    }
  }
  for (let i = 0; i < d.length; i++) m[dqkv + i] = accumulate ? m[dqkv + i]! + d[i]! : d[i]!;
}
