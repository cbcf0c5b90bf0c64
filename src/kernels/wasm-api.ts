// The few WebAssembly JS-API shapes this layer uses. tsconfig's lib is ES2022 without DOM, where the
// `WebAssembly` namespace is not declared; these structural types accept the real objects (a
// WebAssembly.Memory is a WasmMemory) without adding global declarations that could clash with others'.

export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(deltaPages: number): number;
}

export interface WasmModule {
  readonly __wasmModule?: never;
}
export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

export interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  Memory: new (desc: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  validate(bytes: Uint8Array): boolean;
}

/** The runtime's WebAssembly object, typed by the shapes above. */
export const wasmApi: WasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
