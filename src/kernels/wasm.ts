// The `wasm` backend: the Kernels interface over the AssemblyScript module (src/kernels/assembly/kernels.ts),
// instantiated on one device memory. `scratch` is kernelScratchBytes() bytes of workspace (GEMM packing).
import type { Half, Kernels, Ptr } from './types.js';
import { attentionScratchBytes, flashAttentionScratchBytes } from './scratch.js';
import { checkHeads, checkTargets } from './validate.js';
import { loadWasmModule } from './loader.js';
import { wasmApi, type WasmMemory } from './wasm-api.js';

type Fn = (...args: number[]) => number;
type Exports = Record<
  | 'matmul'
  | 'gemm'
  | 'attentionForward'
  | 'attentionBackward'
  | 'flashAttentionForward'
  | 'flashAttentionBackward'
  | 'axpy'
  | 'add'
  | 'scale'
  | 'fill'
  | 'copy'
  | 'biasAdd'
  | 'biasBackward'
  | 'geluForward'
  | 'geluBackward'
  | 'embeddingForward'
  | 'embeddingBackward'
  | 'sumSquares'
  | 'allFinite'
  | 'layerNormForward'
  | 'layerNormBackward'
  | 'softmax'
  | 'crossEntropyForward'
  | 'crossEntropyBackward'
  | 'castToHalf'
  | 'castFromHalf'
  | 'allFinite16'
  | 'sumSquares16'
  | 'adamw',
  Fn
>;

/** The raw exports plus the flags, for callers that need the strided GEMM (e.g. the threaded benchmark). */
export interface WasmKernels extends Kernels {
  /** C[i*ldc+j] = (accumulate ? C : 0) + alpha * op(A) op(B) with element strides lda/ldb/ldc. */
  gemmStrided(
    C: Ptr,
    ldc: number,
    A: Ptr,
    lda: number,
    B: Ptr,
    ldb: number,
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
    accumulate: boolean,
    alpha: number,
  ): void;
}

export function createWasmKernels(memory: WasmMemory, scratch: Ptr): WasmKernels {
  const { module, relaxed } = loadWasmModule('kernels');
  const x = new wasmApi.Instance(module, { env: { memory, abort: wasmAbort } }).exports as unknown as Exports;
  const b = (v: boolean): number => (v ? 1 : 0);
  const bf = (t: Half): number => (t === 'bf16' ? 1 : 0);
  const I = (): Int32Array => new Int32Array(memory.buffer);
  return {
    backend: 'wasm',
    fma: relaxed,
    matmul: (C, A, B, M, N, K, tA, tB, acc) => void x.matmul(C, A, B, M, N, K, b(tA), b(tB), b(acc), scratch),
    gemmStrided: (C, ldc, A, lda, B, ldb, M, N, K, tA, tB, acc, alpha) =>
      void x.gemm(C, ldc, A, lda, B, ldb, M, N, K, b(tA), b(tB), b(acc), alpha, scratch),
    biasAdd: (Y, bias, rows, cols) => void x.biasAdd(Y, bias, rows, cols),
    biasBackward: (db, dY, rows, cols) => void x.biasBackward(db, dY, rows, cols),
    geluForward: (Y, X, n) => void x.geluForward(Y, X, n),
    geluBackward: (dX, X, dY, n, acc) => void x.geluBackward(dX, X, dY, n, b(acc)),
    layerNormForward: (Y, mean, rstd, X, g, be, rows, cols, eps) =>
      void x.layerNormForward(Y, mean, rstd, X, g, be, rows, cols, eps),
    layerNormBackward: (dX, dG, dB, dY, X, mean, rstd, g, rows, cols, acc) =>
      void x.layerNormBackward(dX, dG, dB, dY, X, mean, rstd, g, rows, cols, b(acc)),
    softmax: (Y, X, rows, cols) => void x.softmax(Y, X, rows, cols),
    attentionForward(out, att, qkv, ws, B, T, C, nh) {
      checkHeads(C, nh, 'attentionForward');
      x.attentionForward(out, att, qkv, ws, scratch, B, T, C, nh);
    },
    attentionBackward(dqkv, dout, qkv, att, ws, B, T, C, nh, acc) {
      checkHeads(C, nh, 'attentionBackward');
      x.attentionBackward(dqkv, dout, qkv, att, ws, scratch, B, T, C, nh, b(acc));
    },
    attentionScratchBytes,
    flashAttentionForward(out, lse, qkv, ws, B, T, C, nh) {
      checkHeads(C, nh, 'flashAttentionForward');
      x.flashAttentionForward(out, lse, qkv, ws, scratch, B, T, C, nh);
    },
    flashAttentionBackward(dqkv, dout, qkv, lse, ws, B, T, C, nh, acc) {
      checkHeads(C, nh, 'flashAttentionBackward');
      x.flashAttentionBackward(dqkv, dout, qkv, lse, ws, scratch, B, T, C, nh, b(acc));
    },
    flashAttentionScratchBytes,
    embeddingForward: (out, idx, table, n, C) => void x.embeddingForward(out, idx, table, n, C),
    embeddingBackward: (dt, idx, dout, n, C) => void x.embeddingBackward(dt, idx, dout, n, C),
    crossEntropyForward(losses, logits, targets, N, V) {
      checkTargets(I(), targets >>> 2, N, V, 'crossEntropyForward');
      x.crossEntropyForward(losses, logits, targets, N, V);
    },
    crossEntropyBackward(dl, logits, targets, N, V, dscale) {
      checkTargets(I(), targets >>> 2, N, V, 'crossEntropyBackward');
      x.crossEntropyBackward(dl, logits, targets, N, V, dscale);
    },
    adamw(p, g, m, v, n, lr, b1, b2, eps, wd, dec, bc1, bc2, gs, out16, t, gt = 'f32') {
      // [Note: adamw constants] each derived scalar rounded to f32 once, as one f32 operation in the kernel would
      const f = Math.fround;
      const l = f(lr);
      const c1 = f(b1);
      const c2 = f(b2);
      const w = f(wd);
      const fused = out16 !== 0 && t === 'bf16';
      const code = gt === 'f32' ? 0 : gt === 'bf16' ? 1 : 2;
      x.adamw(
        p,
        g,
        m,
        v,
        fused ? out16 : 0,
        n,
        code,
        b(fused),
        b(dec),
        c1,
        c2,
        f(1 - c1),
        f(1 - c2),
        eps,
        w,
        f(1 - f(l * w)),
        f(l / f(bc1)),
        f(1 / f(bc2)),
        gs,
      );
      if (out16 !== 0 && !fused) x.castToHalf(out16, p, n, bf(t));
    },
    sumSquares: (p, n) => x.sumSquares(p, n),
    allFinite: (p, n) => x.allFinite(p, n) !== 0,
    sumSquares16: (p, n, t) => x.sumSquares16(p, n, bf(t)),
    allFinite16: (p, n, t) => x.allFinite16(p, n, bf(t)) !== 0,
    castToHalf: (d, s, n, t) => void x.castToHalf(d, s, n, bf(t)),
    castFromHalf: (d, s, n, t, acc) => void x.castFromHalf(d, s, n, bf(t), b(acc)),
    axpy: (y, a, xp, n) => void x.axpy(y, a, xp, n),
    add: (o, a, bb, n) => void x.add(o, a, bb, n),
    scale: (p, a, n) => void x.scale(p, a, n),
    fill: (p, v, n) => void x.fill(p, v, n),
    copy: (d, s, bytes) => void x.copy(d, s, bytes),
  };
}

function wasmAbort(): never {
  throw new Error('kernels.wasm aborted (an AssemblyScript assertion failed)');
}
