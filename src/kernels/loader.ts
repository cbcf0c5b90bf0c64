// Finds, validates and compiles the kernels wasm once per process (the compiled module is cached; each memory
// gets its own instance). Relaxed SIMD is enabled before any compile; when V8 refuses the relaxed build we use
// the plain-SIMD one.
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { StateError } from '../errors.js';
import { wasmApi, type WasmModule } from './wasm-api.js';

// Node 20 keeps relaxed SIMD behind a flag; NODE_OPTIONS refuses it, so it is set here, at module load, which is
// before any wasm is compiled by this layer. (Setting a V8 flag late is harmless when it is already on.)
setFlagsFromString('--experimental-wasm-relaxed-simd');

/** dist/wasm, seen from dist/src/kernels/loader.js. */
const WASM_DIR = new URL('../../wasm/', import.meta.url);

interface Loaded {
  module: WasmModule;
  relaxed: boolean;
}
const cache = new Map<string, Loaded>();

/** Compiles dist/wasm/<name>.relaxed.wasm when V8 validates it, else <name>.wasm; cached per process. */
export function loadWasmModule(name: string): Loaded {
  const hit = cache.get(name);
  if (hit) return hit;
  const read = (file: string): Uint8Array => {
    try {
      return readFileSync(new URL(file, WASM_DIR));
    } catch (e) {
      throw new StateError(
        `kernels: cannot read ${new URL(file, WASM_DIR).pathname} (${(e as Error).message}); ` +
          'run `npm run build:kernels` first',
      );
    }
  };
  const relaxedBytes = read(`${name}.relaxed.wasm`);
  let loaded: Loaded;
  if (wasmApi.validate(relaxedBytes)) loaded = { module: new wasmApi.Module(relaxedBytes), relaxed: true };
  else loaded = { module: new wasmApi.Module(read(`${name}.wasm`)), relaxed: false };
  cache.set(name, loaded);
  return loaded;
}
