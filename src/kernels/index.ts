// Entry point of the kernels layer: pick a backend for a device memory.
// See [Note: kernel backends] in docs/design-notes.md.
import type { Kernels } from './types.js';
import type { WasmMemory } from './wasm-api.js';
import { createReferenceKernels } from './reference.js';

export type { Kernels, Ptr, Half } from './types.js';
export { kernelScratchBytes, attentionScratchBytes } from './scratch.js';
export { createReferenceKernels } from './reference.js';
export type { WasmMemory } from './wasm-api.js';

export interface CreateKernelsOptions {
  memory: WasmMemory;
  /** Byte offset of kernelScratchBytes() bytes of workspace (GEMM packing) the wasm backend may use. */
  scratch: number;
  backend?: 'wasm' | 'js';
}

export function createKernels(opts: CreateKernelsOptions): Kernels {
  // TEMPORARY (first commit): the wasm backend is not wired yet; 'wasm' returns the js oracle.
  return createReferenceKernels(opts.memory);
}

export function relaxedSimdEnabled(): boolean {
  return false;
}
