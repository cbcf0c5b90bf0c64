// Entry point of the kernels layer: pick a backend for a device memory.
// See [Note: kernel backends] in docs/design-notes.md.
import { ConfigError } from '../errors.js';
import type { Kernels } from './types.js';
import type { WasmMemory } from './wasm-api.js';
import { createReferenceKernels } from './reference.js';
import { createWasmKernels } from './wasm.js';
import { loadWasmModule } from './loader.js';

export type { Kernels, Ptr, Half } from './types.js';
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
  /** Default 'wasm'. */
  backend?: 'wasm' | 'js';
}

export function createKernels(opts: CreateKernelsOptions): Kernels {
  const backend = opts.backend ?? 'wasm';
  if (backend === 'js') return createReferenceKernels(opts.memory);
  if (backend !== 'wasm')
    throw new ConfigError(
      `kernels.backend: '${String(backend)}' is not a backend; allowed are 'wasm' and 'js'`,
      'kernels.backend',
    );
  if (!Number.isInteger(opts.scratch) || opts.scratch < 0 || opts.scratch % 16 !== 0) {
    throw new ConfigError(
      `kernels.scratch: ${opts.scratch} must be a non-negative, 16-byte aligned byte offset`,
      'kernels.scratch',
    );
  }
  return createWasmKernels(opts.memory, opts.scratch);
}

/** True when the wasm backend in this process uses relaxed-SIMD FMA. */
export function relaxedSimdEnabled(): boolean {
  return loadWasmModule('kernels').relaxed;
}
