// The `blas` backend: the wasm backend with its matrix products (NN, NT, TN and TT, plain and accumulating) sent to
// cblas_sgemm on the device memory itself. Byte offsets become addresses by adding the memory's base address,
// learned once (the memory never grows, so it never moves). Everything else (attention, norms, Adam, casts) is the
// wasm code, unchanged.
import { baseAddress } from '../../native/ffi.js';
import type { Ptr } from '../types.js';
import type { WasmMemory } from '../wasm-api.js';
import { createWasmKernels, type WasmKernels } from '../wasm.js';
import type { OpenBlas } from './openblas.js';

export function createBlasKernels(memory: WasmMemory, scratch: Ptr, blas: OpenBlas): WasmKernels {
  const wasm = createWasmKernels(memory, scratch);
  const base = baseAddress(memory.buffer);
  return {
    ...wasm,
    backend: 'blas',
    matmul(C, A, B, M, N, K, tA, tB, acc) {
      if (M === 0 || N === 0) return;
      if (K === 0) {
        if (!acc) wasm.fill(C, 0, M * N);
        return;
      }
      // Row-major leading dimensions: the stored row length of each operand.
      blas.sgemm(tA, tB, M, N, K, 1, base + A, tA ? M : K, base + B, tB ? K : N, acc ? 1 : 0, base + C, N);
    },
  };
}
