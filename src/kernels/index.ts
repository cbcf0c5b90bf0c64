// Entry point of the kernels layer: pick a backend for a device memory.
// See [Note: kernel backends] in docs/design-notes.md.
import { ConfigError } from '../errors.js';
import type { KernelChoice, Kernels } from './types.js';
import type { WasmMemory } from './wasm-api.js';
import { createReferenceKernels } from './reference.js';
import { createWasmKernels } from './wasm.js';
import { loadWasmModule } from './loader.js';
import { createBlasKernels } from './blas/blas-kernels.js'; // [native blas]
import { blasStatus } from './blas/policy.js'; // [native blas]

export type { Kernels, KernelChoice, Ptr, Half } from './types.js';
export { blasStatus, describeGemmBackend, setBlasSetting, type BlasSetting } from './blas/policy.js'; // [native blas]
export type { WasmMemory } from './wasm-api.js';
export type { WasmKernels } from './wasm.js';
export { kernelScratchBytes, attentionScratchBytes, flashAttentionScratchBytes } from './scratch.js';
export { createReferenceKernels } from './reference.js';
export { createWasmKernels } from './wasm.js';

export interface CreateKernelsOptions {
  /** The rank's device memory (shared WebAssembly.Memory). */
  memory: WasmMemory;
  /** Byte offset of kernelScratchBytes() bytes of workspace the wasm backend uses (GEMM packing). */
  scratch: number;
  /** Default 'wasm'; 'auto' is 'blas' when a native BLAS loads (blas/policy.ts), else 'wasm' (Device's default). */
  backend?: KernelChoice;
}

export function createKernels(opts: CreateKernelsOptions): Kernels {
  const backend = opts.backend ?? 'wasm';
  if (backend === 'js') return createReferenceKernels(opts.memory);
  if (backend !== 'wasm' && backend !== 'blas' && backend !== 'auto')
    throw new ConfigError(
      `kernels.backend: '${String(backend)}' is not a backend; allowed are 'auto', 'blas', 'wasm' and 'js'`,
      'kernels.backend',
    );
  if (!Number.isInteger(opts.scratch) || opts.scratch < 0 || opts.scratch % 16 !== 0) {
    throw new ConfigError(
      `kernels.scratch: ${opts.scratch} must be a non-negative, 16-byte aligned byte offset`,
      'kernels.scratch',
    );
  }
  if (backend === 'wasm') return createWasmKernels(opts.memory, opts.scratch);
  // [native blas] 'auto' falls back to wasm quietly here (the CLI prints the one-line reason); 'blas' insists.
  const blas = blasStatus();
  if (blas.ok) return createBlasKernels(opts.memory, opts.scratch, blas.blas);
  if (backend === 'blas')
    throw new ConfigError(
      `kernels.backend: 'blas' was asked for but no native BLAS loads: ${blas.reason}; install libopenblas0-pthread ` +
        "(Debian/Ubuntu) and the optional npm package koffi, set ZEROTS_BLAS to the library's path, or use 'wasm'",
      'kernels.backend',
    );
  return createWasmKernels(opts.memory, opts.scratch);
}

/** True when the wasm backend in this process uses relaxed-SIMD FMA. */
export function relaxedSimdEnabled(): boolean {
  return loadWasmModule('kernels').relaxed;
}
