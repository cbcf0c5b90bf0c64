// The fused causal attention in plain loops (the oracle for assembly/_flash.ts): forward saves lse[b,h,t] =
// log(sum_{t2<=t} exp(s[t,t2])) of the scaled scores instead of the probabilities; backward recomputes each row's
// probabilities as exp(s - lse). Sums in float64. All arrays are views of the whole memory, offsets in elements.

export function flashAttentionForwardRef(
  m: Float32Array,
  out: number,
  lse: number,
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
      for (let t = 0; t < T; t++) {
        const q = qkv + (b * T + t) * C3 + h * hs;
        let max = -Infinity;
        for (let t2 = 0; t2 <= t; t2++) {
          const k = qkv + (b * T + t2) * C3 + C + h * hs;
          let s = 0;
          for (let i = 0; i < hs; i++) s += m[q + i]! * m[k + i]!;
          row[t2] = s * scale;
          if (row[t2]! > max) max = row[t2]!;
        }
        let sum = 0;
        for (let t2 = 0; t2 <= t; t2++) sum += Math.exp(row[t2]! - max);
        const l = max + Math.log(sum);
        m[lse + (b * nh + h) * T + t] = l;
        const o = out + (b * T + t) * C + h * hs;
        for (let i = 0; i < hs; i++) {
          let acc = 0;
          for (let t2 = 0; t2 <= t; t2++)
            acc += Math.exp(row[t2]! - l) * m[qkv + (b * T + t2) * C3 + 2 * C + h * hs + i]!;
          m[o + i] = acc;
        }
      }
    }
  }
}

export function flashAttentionBackwardRef(
  m: Float32Array,
  dqkv: number,
  dout: number,
  qkv: number,
  lse: number,
  B: number,
  T: number,
  C: number,
  nh: number,
  accumulate: boolean,
): void {
  const hs = C / nh;
  const scale = 1 / Math.sqrt(hs);
  const C3 = 3 * C;
  const d = new Float64Array(B * T * C3);
  const p = new Float64Array(T);
  const dp = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nh; h++) {
      for (let t = 0; t < T; t++) {
        const q = qkv + (b * T + t) * C3 + h * hs;
        const dO = dout + (b * T + t) * C + h * hs;
        const l = m[lse + (b * nh + h) * T + t]!;
        let dot = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          const k = qkv + (b * T + t2) * C3 + C + h * hs;
          const v = k + C;
          let s = 0;
          let e = 0;
          for (let i = 0; i < hs; i++) {
            s += m[q + i]! * m[k + i]!;
            e += m[dO + i]! * m[v + i]!;
          }
          p[t2] = Math.exp(s * scale - l);
          dp[t2] = e;
          dot += p[t2]! * e;
        }
        const dq = (b * T + t) * C3 + h * hs;
        for (let t2 = 0; t2 <= t; t2++) {
          const ds = p[t2]! * (dp[t2]! - dot) * scale;
          const k = qkv + (b * T + t2) * C3 + C + h * hs;
          const dk = (b * T + t2) * C3 + C + h * hs;
          for (let i = 0; i < hs; i++) {
            d[dq + i] += ds * m[k + i]!;
            d[dk + i] += ds * m[q + i]!;
            d[dk + C + i] += p[t2]! * m[dO + i]!;
          }
        }
      }
    }
  }
  for (let i = 0; i < d.length; i++) m[dqkv + i] = accumulate ? m[dqkv + i]! + d[i]! : d[i]!;
}
