// The kernel interface: every op zerots computes, on fp32 data that lives in one rank's device memory.
// Two backends implement it over the same memory: `wasm` (AssemblyScript, SIMD; the fast one) and `js` (plain
// loops; the oracle in tests). All pointers are byte offsets into that memory, 4-byte aligned for f32/i32 and
// 2-byte for 16-bit data; all matrices are row-major and contiguous. Counts are element counts.
// Output buffers must not alias inputs unless a kernel says so.

export type Ptr = number;

/** 16-bit storage formats; fp32 is the compute type. */
export type Half = 'bf16' | 'f16';

/** What a caller may ask for: 'auto' is blas when a native BLAS loads (see blas/policy.ts), else wasm. */
export type KernelChoice = 'auto' | 'blas' | 'wasm' | 'js';

export interface Kernels {
  readonly backend: 'blas' | 'wasm' | 'js';
  /** True when the wasm build uses relaxed-SIMD FMA (always false for js). */
  readonly fma: boolean;

  // ---- GEMM: C[M,N] = (accumulate ? C : 0) + op(A)[M,K] @ op(B)[K,N]
  // A is stored [M,K] (transA false) or [K,M] (transA true); B is stored [K,N] or [N,K] (transB true).
  matmul(
    C: Ptr,
    A: Ptr,
    B: Ptr,
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
    accumulate: boolean,
  ): void;

  // ---- elementwise and small ops
  /** Y[r,c] += bias[c] for rows x cols (in place). */
  biasAdd(Y: Ptr, bias: Ptr, rows: number, cols: number): void;
  /** dbias[c] += sum_r dY[r,c]. */
  biasBackward(dbias: Ptr, dY: Ptr, rows: number, cols: number): void;
  /** Y = gelu_tanh(X). */
  geluForward(Y: Ptr, X: Ptr, n: number): void;
  /** dX (+)= dY * gelu_tanh'(X); accumulate chooses += or =. */
  geluBackward(dX: Ptr, X: Ptr, dY: Ptr, n: number, accumulate: boolean): void;
  /** Row-wise LayerNorm: Y = (X - mean) * rstd * gamma + beta; writes mean[rows], rstd[rows]. */
  layerNormForward(
    Y: Ptr,
    mean: Ptr,
    rstd: Ptr,
    X: Ptr,
    gamma: Ptr,
    beta: Ptr,
    rows: number,
    cols: number,
    eps: number,
  ): void;
  /** dX (+)= ..., dGamma += ..., dBeta += ... (dGamma/dBeta always accumulate; dX per `accumulate`). */
  layerNormBackward(
    dX: Ptr,
    dGamma: Ptr,
    dBeta: Ptr,
    dY: Ptr,
    X: Ptr,
    mean: Ptr,
    rstd: Ptr,
    gamma: Ptr,
    rows: number,
    cols: number,
    accumulate: boolean,
  ): void;
  /** Row-wise softmax, numerically stable. Y may equal X. */
  softmax(Y: Ptr, X: Ptr, rows: number, cols: number): void;

  /**
   * Causal self-attention over packed qkv [B,T,3C] (q, k, v each [B,T,C], heads of size C/nh side by side,
   * as GPT-2's c_attn output). Writes out [B,T,C] and saves the softmax probabilities att [B,nh,T,T].
   * Scale 1/sqrt(C/nh). `scratch` is attentionScratchBytes(B,T,C,nh) bytes of workspace.
   */
  attentionForward(out: Ptr, att: Ptr, qkv: Ptr, scratch: Ptr, B: number, T: number, C: number, nh: number): void;
  /** dqkv (+)= gradient of attentionForward w.r.t. qkv, given dout, qkv and the saved att. */
  attentionBackward(
    dqkv: Ptr,
    dout: Ptr,
    qkv: Ptr,
    att: Ptr,
    scratch: Ptr,
    B: number,
    T: number,
    C: number,
    nh: number,
    accumulate: boolean,
  ): void;
  /** Workspace bytes attentionForward/attentionBackward need (the larger of the two). */
  attentionScratchBytes(B: number, T: number, C: number, nh: number): number;

  /**
   * Fused causal attention that saves no T x T matrix ([Note: flash blocks] in assembly/_flash.ts): same inputs
   * and output as attentionForward, but saves only lse [B,nh,T] (log-sum-exp of each row's scaled scores).
   * `scratch` is flashAttentionScratchBytes(B,T,C,nh) bytes (2 x min(64,T) x T floats; no dependence on B).
   */
  flashAttentionForward(out: Ptr, lse: Ptr, qkv: Ptr, scratch: Ptr, B: number, T: number, C: number, nh: number): void;
  /** dqkv (+)= gradient of the attention w.r.t. qkv, recomputing the scores block by block from qkv and lse. */
  flashAttentionBackward(
    dqkv: Ptr,
    dout: Ptr,
    qkv: Ptr,
    lse: Ptr,
    scratch: Ptr,
    B: number,
    T: number,
    C: number,
    nh: number,
    accumulate: boolean,
  ): void;
  flashAttentionScratchBytes(B: number, T: number, C: number, nh: number): number;

  /** out[i,:] = table[idx[i],:] for i < n (idx is i32 [n]); out is [n,C]. */
  embeddingForward(out: Ptr, idx: Ptr, table: Ptr, n: number, C: number): void;
  /** dtable[idx[i],:] += dout[i,:] (scatter-add; repeated indices accumulate in index order). */
  embeddingBackward(dtable: Ptr, idx: Ptr, dout: Ptr, n: number, C: number): void;

  /**
   * Cross-entropy of logits [N,V] against targets (i32 [N]; a target < 0 is ignored and gets loss 0).
   * Writes losses[N] (f32, natural log).
   */
  crossEntropyForward(losses: Ptr, logits: Ptr, targets: Ptr, N: number, V: number): void;
  /** dlogits (=) (softmax(logits) - onehot(target)) * dscale, rows with ignored targets get 0. dlogits may equal
   * logits (computed in place, saving a [N,V] buffer). */
  crossEntropyBackward(dlogits: Ptr, logits: Ptr, targets: Ptr, N: number, V: number, dscale: number): void;

  /**
   * Fused AdamW over flat fp32 (PyTorch's AdamW; Adam when weightDecay is 0 or decoupled is false):
   *   g = grad * gradScale; if !decoupled: g += weightDecay * p
   *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
   *   if decoupled: p -= lr * weightDecay * p
   *   p -= lr * (m / bc1) / (sqrt(v / bc2) + eps)      with bc1 = 1 - b1^t, bc2 = 1 - b2^t
   * When out16 is not 0, also writes the updated p rounded to `out16Type` at out16. `gradType` (default 'f32'):
   * the gradient at `grad` is fp32, or 16-bit values decoded on the fly (the offloaded step's blocks).
   */
  adamw(
    p: Ptr,
    grad: Ptr,
    m: Ptr,
    v: Ptr,
    n: number,
    lr: number,
    b1: number,
    b2: number,
    eps: number,
    weightDecay: number,
    decoupled: boolean,
    bc1: number,
    bc2: number,
    gradScale: number,
    out16: Ptr,
    out16Type: Half,
    gradType?: 'f32' | Half,
  ): void;

  /** sum of x[i]^2 accumulated in f64. */
  sumSquares(x: Ptr, n: number): number;
  /** True when every x[i] is finite. */
  allFinite(x: Ptr, n: number): boolean;
  /** Same two over 16-bit data. */
  sumSquares16(x: Ptr, n: number, type: Half): number;
  allFinite16(x: Ptr, n: number, type: Half): boolean;

  /** dst16[i] = round-to-nearest-even(src[i]). */
  castToHalf(dst: Ptr, src: Ptr, n: number, type: Half): void;
  /** dst[i] = f32(src16[i]) (accumulate: +=). */
  castFromHalf(dst: Ptr, src: Ptr, n: number, type: Half, accumulate: boolean): void;

  /** y += a * x. */
  axpy(y: Ptr, a: number, x: Ptr, n: number): void;
  /** out = a + b (out may equal a or b). */
  add(out: Ptr, a: Ptr, b: Ptr, n: number): void;
  /** x *= a. */
  scale(x: Ptr, a: number, n: number): void;
  /** x[i] = value. */
  fill(x: Ptr, value: number, n: number): void;
  /** byte copy (memmove semantics). */
  copy(dst: Ptr, src: Ptr, bytes: number): void;
}
