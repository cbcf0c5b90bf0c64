// Shared test helpers: a device-like memory with both backends on it, a bump allocator above 64 KiB, seeded data.
import assert from 'node:assert/strict';
import { createKernels, kernelScratchBytes, type Kernels, type WasmMemory } from '../../src/kernels/index.js';
import { wasmApi } from '../../src/kernels/wasm-api.js';

export interface Bench {
  memory: WasmMemory;
  wasm: Kernels;
  js: Kernels;
  f32: Float32Array;
  i32: Int32Array;
  u16: Uint16Array;
  /** Bump-allocates `n` elements of 4 (or `bytesPer`) bytes, 64-byte aligned; returns the byte offset. */
  alloc(n: number, bytesPer?: number): number;
  /** Byte offset of a new buffer holding these values. */
  put(values: ArrayLike<number>): number;
  get(ptr: number, n: number): Float32Array;
  reset(): void;
}

export function makeBench(pages = 256): Bench {
  const memory = new wasmApi.Memory({ initial: pages, maximum: pages, shared: true });
  const scratch = 65536;
  const start = scratch + Math.ceil(kernelScratchBytes() / 64) * 64;
  let top = start;
  const b: Bench = {
    memory,
    wasm: createKernels({ memory, scratch }),
    js: createKernels({ memory, scratch, backend: 'js' }),
    f32: new Float32Array(memory.buffer),
    i32: new Int32Array(memory.buffer),
    u16: new Uint16Array(memory.buffer),
    alloc(n, bytesPer = 4) {
      const p = top;
      top += Math.ceil((n * bytesPer) / 64) * 64 + 64;
      if (top > memory.buffer.byteLength) throw new Error('test memory too small');
      return p;
    },
    put(values) {
      const p = b.alloc(values.length);
      b.f32.set(values, p >>> 2);
      return p;
    },
    get(ptr, n) {
      return b.f32.slice(ptr >>> 2, (ptr >>> 2) + n);
    },
    reset() {
      top = start;
    },
  };
  return b;
}

/** Deterministic uniform numbers in [lo, hi) (mulberry32). */
export function rng(seed: number): (lo?: number, hi?: number) => number {
  let s = seed >>> 0;
  return (lo = -1, hi = 1) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  };
}

export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r(lo, hi);
  return a;
}

/** |a - b| <= atol + rtol * |b| elementwise, with the first offending index in the message. */
export function assertClose(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  rtol: number,
  atol: number,
  what: string,
): void {
  assert.equal(a.length, b.length, `${what}: lengths differ`);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!,
      y = b[i]!;
    if (!(Math.abs(x - y) <= atol + rtol * Math.abs(y))) {
      assert.fail(`${what}: element ${i}: got ${x}, expected ${y} (rtol ${rtol}, atol ${atol})`);
    }
  }
}
