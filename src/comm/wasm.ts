// The few WebAssembly JS-API shapes comm/ uses. tsconfig's lib (ES2022, no DOM) does not declare the
// `WebAssembly` namespace; these structural types accept the real objects (a shared WebAssembly.Memory, the
// tensor layer's WasmMemory) without global declarations that could clash with other layers'.

/** A rank's device memory: a shared WebAssembly.Memory (its buffer is a SharedArrayBuffer). */
export interface CommMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}

export interface CommWasmModule {
  readonly __commWasmModule?: never;
}

interface CommWasmApi {
  Module: new (bytes: Uint8Array) => CommWasmModule;
  Instance: new (
    module: CommWasmModule,
    imports: Record<string, Record<string, unknown>>,
  ) => { readonly exports: Record<string, unknown> };
}

/** The runtime's WebAssembly object, typed by the shapes above. */
export const commWasm: CommWasmApi = (globalThis as unknown as { WebAssembly: CommWasmApi }).WebAssembly;
