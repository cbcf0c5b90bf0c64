// The `js` backend: every kernel as plain loops over views of the device memory, written for clarity, not speed.
// It is the oracle the wasm kernels are tested against. Sums run in float64 (JS numbers), results are stored fp32.
import type { Half, Kernels, Ptr } from './types.js';
import { attentionBackwardRef, attentionForwardRef } from './reference-attention.js';
import { flashAttentionBackwardRef, flashAttentionForwardRef } from './reference-flash.js';
import { bitsToHalf, halfBitsToF32 } from './half.js';
import { attentionScratchBytes, flashAttentionScratchBytes } from './scratch.js';
import { checkHeads, checkTargets } from './validate.js';
import type { WasmMemory } from './wasm-api.js';

const GELU_S = Math.sqrt(2 / Math.PI);

export function createReferenceKernels(memory: WasmMemory): Kernels {
  // Views are taken per call: cheap, and always over the current buffer.
  const F = (): Float32Array => new Float32Array(memory.buffer);
  const I = (): Int32Array => new Int32Array(memory.buffer);
  const U16 = (): Uint16Array => new Uint16Array(memory.buffer);
  const U32 = (): Uint32Array => new Uint32Array(memory.buffer);
  const f = (p: Ptr): number => p >>> 2;

  return {
    backend: 'js',
    fma: false,

    matmul(C, A, B, M, N, K, transA, transB, accumulate) {
      const m = F();
      const c = f(C),
        a = f(A),
        b = f(B);
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) {
            const av = transA ? m[a + k * M + i]! : m[a + i * K + k]!;
            const bv = transB ? m[b + j * K + k]! : m[b + k * N + j]!;
            s += av * bv;
          }
          m[c + i * N + j] = accumulate ? m[c + i * N + j]! + s : s;
        }
      }
    },

    biasAdd(Y, bias, rows, cols) {
      const m = F();
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) m[f(Y) + r * cols + c] += m[f(bias) + c]!;
    },
    biasBackward(dbias, dY, rows, cols) {
      const m = F();
      for (let c = 0; c < cols; c++) {
        let s = 0;
        for (let r = 0; r < rows; r++) s += m[f(dY) + r * cols + c]!;
        m[f(dbias) + c] += s;
      }
    },

    geluForward(Y, X, n) {
      const m = F();
      for (let i = 0; i < n; i++) {
        const x = m[f(X) + i]!;
        m[f(Y) + i] = 0.5 * x * (1 + Math.tanh(GELU_S * (x + 0.044715 * x * x * x)));
      }
    },
    geluBackward(dX, X, dY, n, accumulate) {
      const m = F();
      for (let i = 0; i < n; i++) {
        const x = m[f(X) + i]!;
        const t = Math.tanh(GELU_S * (x + 0.044715 * x * x * x));
        const g = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_S * (1 + 3 * 0.044715 * x * x);
        const d = g * m[f(dY) + i]!;
        m[f(dX) + i] = accumulate ? m[f(dX) + i]! + d : d;
      }
    },

    layerNormForward(Y, mean, rstd, X, gamma, beta, rows, cols, eps) {
      const m = F();
      for (let r = 0; r < rows; r++) {
        const x = f(X) + r * cols;
        let mu = 0;
        for (let c = 0; c < cols; c++) mu += m[x + c]!;
        mu /= cols;
        let v = 0;
        for (let c = 0; c < cols; c++) v += (m[x + c]! - mu) ** 2;
        v /= cols;
        const rs = 1 / Math.sqrt(v + eps);
        for (let c = 0; c < cols; c++) {
          m[f(Y) + r * cols + c] = (m[x + c]! - mu) * rs * m[f(gamma) + c]! + m[f(beta) + c]!;
        }
        m[f(mean) + r] = mu;
        m[f(rstd) + r] = rs;
      }
    },
    layerNormBackward(dX, dGamma, dBeta, dY, X, mean, rstd, gamma, rows, cols, accumulate) {
      const m = F();
      for (let r = 0; r < rows; r++) {
        const x = f(X) + r * cols,
          dy = f(dY) + r * cols,
          dx = f(dX) + r * cols;
        const mu = m[f(mean) + r]!,
          rs = m[f(rstd) + r]!;
        let dnormMean = 0,
          dnormNormMean = 0;
        for (let c = 0; c < cols; c++) {
          const xhat = (m[x + c]! - mu) * rs;
          const dnorm = m[f(gamma) + c]! * m[dy + c]!;
          dnormMean += dnorm;
          dnormNormMean += dnorm * xhat;
        }
        dnormMean /= cols;
        dnormNormMean /= cols;
        for (let c = 0; c < cols; c++) {
          const xhat = (m[x + c]! - mu) * rs;
          const dnorm = m[f(gamma) + c]! * m[dy + c]!;
          m[f(dBeta) + c] += m[dy + c]!;
          m[f(dGamma) + c] += xhat * m[dy + c]!;
          const d = rs * (dnorm - dnormMean - xhat * dnormNormMean);
          m[dx + c] = accumulate ? m[dx + c]! + d : d;
        }
      }
    },

    softmax(Y, X, rows, cols) {
      const m = F();
      for (let r = 0; r < rows; r++) {
        const x = f(X) + r * cols,
          y = f(Y) + r * cols;
        let max = -Infinity;
        for (let c = 0; c < cols; c++) max = Math.max(max, m[x + c]!);
        const e = new Float64Array(cols);
        let s = 0;
        for (let c = 0; c < cols; c++) s += e[c] = Math.exp(m[x + c]! - max);
        for (let c = 0; c < cols; c++) m[y + c] = e[c]! / s;
      }
    },

    attentionForward(out, att, qkv, _scratch, B, T, C, nh) {
      attentionForwardRef(F(), f(out), f(att), f(qkv), B, T, C, nh);
    },
    attentionBackward(dqkv, dout, qkv, att, _scratch, B, T, C, nh, accumulate) {
      attentionBackwardRef(F(), f(dqkv), f(dout), f(qkv), f(att), B, T, C, nh, accumulate);
    },
    attentionScratchBytes,
    flashAttentionForward(out, lse, qkv, _scratch, B, T, C, nh) {
      checkHeads(C, nh, 'flashAttentionForward');
      flashAttentionForwardRef(F(), f(out), f(lse), f(qkv), B, T, C, nh);
    },
    flashAttentionBackward(dqkv, dout, qkv, lse, _scratch, B, T, C, nh, accumulate) {
      checkHeads(C, nh, 'flashAttentionBackward');
      flashAttentionBackwardRef(F(), f(dqkv), f(dout), f(qkv), f(lse), B, T, C, nh, accumulate);
    },
    flashAttentionScratchBytes,

    embeddingForward(out, idx, table, n, C) {
      const m = F(),
        ix = I();
      for (let i = 0; i < n; i++) {
        const row = ix[f(idx) + i]!;
        for (let c = 0; c < C; c++) m[f(out) + i * C + c] = m[f(table) + row * C + c]!;
      }
    },
    embeddingBackward(dtable, idx, dout, n, C) {
      const m = F(),
        ix = I();
      for (let i = 0; i < n; i++) {
        const row = ix[f(idx) + i]!;
        for (let c = 0; c < C; c++) m[f(dtable) + row * C + c] += m[f(dout) + i * C + c]!;
      }
    },

    crossEntropyForward(losses, logits, targets, N, V) {
      const m = F(),
        ix = I();
      checkTargets(ix, f(targets), N, V, 'crossEntropyForward');
      for (let i = 0; i < N; i++) {
        const t = ix[f(targets) + i]!,
          l = f(logits) + i * V;
        if (t < 0) {
          m[f(losses) + i] = 0;
          continue;
        }
        let max = -Infinity;
        for (let c = 0; c < V; c++) max = Math.max(max, m[l + c]!);
        let s = 0;
        for (let c = 0; c < V; c++) s += Math.exp(m[l + c]! - max);
        m[f(losses) + i] = Math.log(s) + max - m[l + t]!;
      }
    },
    crossEntropyBackward(dlogits, logits, targets, N, V, dscale) {
      const m = F(),
        ix = I();
      checkTargets(ix, f(targets), N, V, 'crossEntropyBackward');
      for (let i = 0; i < N; i++) {
        const t = ix[f(targets) + i]!,
          l = f(logits) + i * V,
          d = f(dlogits) + i * V;
        if (t < 0) {
          for (let c = 0; c < V; c++) m[d + c] = 0;
          continue;
        }
        let max = -Infinity;
        for (let c = 0; c < V; c++) max = Math.max(max, m[l + c]!);
        let s = 0;
        for (let c = 0; c < V; c++) s += Math.exp(m[l + c]! - max);
        for (let c = 0; c < V; c++) m[d + c] = (Math.exp(m[l + c]! - max) / s - (c === t ? 1 : 0)) * dscale;
      }
    },

    adamw(p, grad, mm, vv, n, lr, b1, b2, eps, weightDecay, decoupled, bc1, bc2, gradScale, out16, out16Type, gt) {
      const m = F(),
        u = U16(),
        bits = U32();
      const g16 = gt === undefined || gt === 'f32' ? null : gt;
      for (let i = 0; i < n; i++) {
        let pi = m[f(p) + i]!;
        let g = (g16 === null ? m[f(grad) + i]! : halfBitsToF32(u[(grad >>> 1) + i]!, g16)) * gradScale;
        if (!decoupled) g += weightDecay * pi;
        const mi = b1 * m[f(mm) + i]! + (1 - b1) * g;
        const vi = b2 * m[f(vv) + i]! + (1 - b2) * g * g;
        if (decoupled) pi -= lr * weightDecay * pi;
        pi -= (lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + eps);
        m[f(mm) + i] = mi;
        m[f(vv) + i] = vi;
        m[f(p) + i] = pi;
        if (out16 !== 0) u[(out16 >>> 1) + i] = bitsToHalf(bits[f(p) + i]!, out16Type);
      }
    },

    sumSquares(x, n) {
      const m = F();
      let s = 0;
      for (let i = 0; i < n; i++) s += m[f(x) + i]! * m[f(x) + i]!;
      return s;
    },
    allFinite(x, n) {
      const m = F();
      for (let i = 0; i < n; i++) if (!Number.isFinite(m[f(x) + i]!)) return false;
      return true;
    },
    sumSquares16(x, n, type) {
      const u = U16();
      let s = 0;
      for (let i = 0; i < n; i++) s += halfBitsToF32(u[(x >>> 1) + i]!, type) ** 2;
      return s;
    },
    allFinite16(x, n, type: Half) {
      const u = U16();
      for (let i = 0; i < n; i++) if (!Number.isFinite(halfBitsToF32(u[(x >>> 1) + i]!, type))) return false;
      return true;
    },

    castToHalf(dst, src, n, type) {
      const m = U32(),
        u = U16();
      for (let i = 0; i < n; i++) u[(dst >>> 1) + i] = bitsToHalf(m[f(src) + i]!, type);
    },
    castFromHalf(dst, src, n, type, accumulate) {
      const m = F(),
        u = U16();
      for (let i = 0; i < n; i++) {
        const v = halfBitsToF32(u[(src >>> 1) + i]!, type);
        m[f(dst) + i] = accumulate ? m[f(dst) + i]! + v : v;
      }
    },

    axpy(y, a, x, n) {
      const m = F();
      for (let i = 0; i < n; i++) m[f(y) + i] += a * m[f(x) + i]!;
    },
    add(out, a, b, n) {
      const m = F();
      for (let i = 0; i < n; i++) m[f(out) + i] = m[f(a) + i]! + m[f(b) + i]!;
    },
    scale(x, a, n) {
      const m = F();
      for (let i = 0; i < n; i++) m[f(x) + i] *= a;
    },
    fill(x, value, n) {
      F().fill(value, f(x), f(x) + n);
    },
    copy(dst, src, bytes) {
      new Uint8Array(memory.buffer).copyWithin(dst, src, src + bytes);
    },
  };
}
