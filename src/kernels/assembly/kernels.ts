// The wasm kernels (entry module; `_*.ts` files are includes). Built by scripts/build-kernels.mjs into
// dist/wasm/kernels.wasm (plain SIMD) and kernels.relaxed.wasm (relaxed-SIMD FMA). The module imports the rank's
// memory and keeps no data in it: GEMM packing buffers and attention workspace are pointers passed in.
// Booleans arrive as i32 (0/1); pointers are byte offsets. src/kernels/wasm.ts adapts this to the Kernels API.
import { gemm } from './_gemm';

export { gemm } from './_gemm';
export { attentionForward, attentionBackward } from './_attention';
export { flashAttentionForward, flashAttentionBackward } from './_flash';
export {
  axpy,
  add,
  scale,
  fill,
  copy,
  biasAdd,
  biasBackward,
  geluForward,
  geluBackward,
  embeddingForward,
  embeddingBackward,
  sumSquares,
  allFinite,
} from './_elementwise';
export { layerNormForward, layerNormBackward, softmax, crossEntropyForward, crossEntropyBackward } from './_norm';
export { castToHalf, castFromHalf, allFinite16, sumSquares16 } from './_half';
export { adamw } from './_optim';

/** C[M,N] = (accumulate ? C : 0) + op(A) @ op(B), contiguous row-major operands. */
export function matmul(
  C: usize,
  A: usize,
  B: usize,
  M: i32,
  N: i32,
  K: i32,
  transA: bool,
  transB: bool,
  accumulate: bool,
  scratch: usize,
): void {
  gemm(C, N, A, transA ? M : K, B, transB ? K : N, M, N, K, transA, transB, accumulate, 1, scratch);
}
