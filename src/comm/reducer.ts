// Loads the comm reduction kernels (dist/wasm/reduce.wasm, built from src/comm/assembly/reduce.ts) on one rank's
// device memory. The kernels use the memory's comm slot [8192, 16384) (see scripts/build-kernels.mjs): the first
// TABLE_BYTES hold the table of source offsets, the rest is staging space for blocks of peers' data.
import { readFileSync } from 'node:fs';
import { StateError } from '../errors.js';
import type { CommDType, ReduceOp } from './types.js';
import { commWasm, type CommMemory, type CommWasmModule } from './wasm.js';

export const COMM_SLOT_BASE = 8192;
export const COMM_SLOT_BYTES = 8192;
/** Room for the table of source offsets at the start of the slot (up to 64 sources). */
export const TABLE_BYTES = 256;
export const MAX_SOURCES = TABLE_BYTES / 4;

interface ReduceExports {
  reduceF32(dst: number, table: number, nsrc: number, n: number, op: number, divisor: number): void;
  reduce16(dst: number, table: number, nsrc: number, n: number, op: number, divisor: number, kind: number): void;
  move(dst: number, src: number, n: number): void;
}

const OP_CODE: Record<ReduceOp, number> = { sum: 0, avg: 1, max: 2 };

let compiled: CommWasmModule | null = null; // compiled once per thread: pure code, no state

function wasmModule(): CommWasmModule {
  if (compiled) return compiled;
  const url = new URL('../../wasm/reduce.wasm', import.meta.url); // dist/src/comm -> dist/wasm
  let bytes: Buffer;
  try {
    bytes = readFileSync(url);
  } catch (e) {
    throw new StateError(
      `comm reduce kernels not found at ${url.pathname}: run \`npm run build:kernels\` (${String(e)})`,
    );
  }
  compiled = new commWasm.Module(bytes);
  return compiled;
}

export class Reducer {
  private readonly k: ReduceExports;
  private readonly table: Uint32Array;

  /** `memory` must be the shared memory the offsets below point into. */
  constructor(memory: CommMemory) {
    const inst = new commWasm.Instance(wasmModule(), { env: { memory } });
    this.k = inst.exports as unknown as ReduceExports;
    this.table = new Uint32Array(memory.buffer, COMM_SLOT_BASE, MAX_SOURCES);
  }

  /**
   * dst[i] = srcs[0][i] (+ or max) srcs[1][i] ... in that order (byte offsets; dst may be one of srcs), then
   * / divisor for 'avg', for n elements of dtype.
   */
  reduce(dtype: CommDType, op: ReduceOp, dst: number, srcs: readonly number[], n: number, divisor: number): void {
    const t = this.table;
    for (let s = 0; s < srcs.length; s++) t[s] = srcs[s]!;
    if (dtype === 'f32') this.k.reduceF32(dst, COMM_SLOT_BASE, srcs.length, n, OP_CODE[op], divisor);
    else this.k.reduce16(dst, COMM_SLOT_BASE, srcs.length, n, OP_CODE[op], divisor, dtype === 'bf16' ? 0 : 1);
  }

  /**
   * Copies `bytes` bytes inside the memory (overlap allowed, like memmove). `TypedArray#set` within one
   * SharedArrayBuffer copies with relaxed atomics through a temporary and is several times slower.
   */
  move(dst: number, src: number, bytes: number): void {
    if (bytes > 0 && dst !== src) this.k.move(dst, src, bytes);
  }
}
