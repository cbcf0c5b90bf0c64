// Where the TCP helper thread keeps the peers' raw contributions and folds them ([Note: tcp reduction order],
// reduce.ts): a private shared WebAssembly.Memory of its own, so the comm layer's wasm SIMD reducer
// (../reducer.ts, the same kernels as the threads transport) can fold there; plain JS (foldRange) when the wasm
// build is missing. Layout: [0, 64 KiB) the reducer's table and statics | own-chunk stage | result stage | peers.
import { Reducer } from '../reducer.js';
import type { CommDType, ReduceOp } from '../types.js';
import { foldRange } from './reduce.js';

interface GrowableMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}
const WA = (
  globalThis as unknown as {
    WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: boolean }) => GrowableMemory };
  }
).WebAssembly;

const PAGE = 65536;
/** elements per fold step: the own chunk and the result pass through stages of this size. */
const SEG = 256 * 1024;
const OWN = PAGE;
const DST = OWN + SEG * 4;
const PEERS = DST + SEG * 4;

export class Folder {
  private readonly memory: GrowableMemory = new WA.Memory({
    initial: Math.ceil(PEERS / PAGE),
    maximum: 65536,
    shared: true,
  });
  private readonly reducer: Reducer | null;
  private base: number[] = [];
  private readonly acc = new Float32Array(SEG);
  private readonly tmp = new Float32Array(SEG);

  constructor(wasm = true) {
    let r: Reducer | null = null;
    if (wasm) {
      try {
        r = new Reducer(this.memory);
      } catch {
        r = null; // kernels not built: fold in JS
      }
    }
    this.reducer = r;
  }

  get usesWasm(): boolean {
    return this.reducer !== null;
  }

  /** Room for every peer's contribution of `bytes`; returns the byte views to receive into (undefined at `rank`). */
  prepare(worldSize: number, rank: number, bytes: number): (Uint8Array | undefined)[] {
    const stride = Math.ceil(bytes / 64) * 64;
    const need = PEERS + stride * (worldSize - 1);
    const have = this.memory.buffer.byteLength;
    if (need > have) this.memory.grow(Math.ceil((need - have) / PAGE));
    const buf = this.memory.buffer;
    this.base = [];
    const views: (Uint8Array | undefined)[] = [];
    for (let p = 0, slot = 0; p < worldSize; p++) {
      if (p === rank) {
        this.base.push(-1);
        views.push(undefined);
        continue;
      }
      this.base.push(PEERS + stride * slot++);
      views.push(new Uint8Array(buf, this.base[p], bytes));
    }
    return views;
  }

  /** out[from, to) = rank-order fold of the contributions (own = this rank's chunk, in the rank's memory). */
  fold(
    own: Float32Array | Uint16Array,
    out: Float32Array | Uint16Array,
    from: number,
    to: number,
    rank: number,
    op: ReduceOp,
    dtype: CommDType,
  ): void {
    const N = this.base.length;
    const eb = dtype === 'f32' ? 4 : 2;
    const buf = this.memory.buffer;
    const typed = (at: number, n: number) => (eb === 4 ? new Float32Array(buf, at, n) : new Uint16Array(buf, at, n));
    for (let a = from; a < to; a += SEG) {
      const n = Math.min(SEG, to - a);
      typed(OWN, n).set(own.subarray(a, a + n) as never);
      const srcs = this.base.map((b, k) => (k === rank ? OWN : b + a * eb));
      if (this.reducer) {
        this.reducer.reduce(dtype, op, DST, srcs, n, N);
      } else {
        foldRange(
          srcs.map((s) => typed(s, n)),
          typed(DST, n),
          0,
          n,
          op,
          dtype,
          this.acc,
          this.tmp,
        );
      }
      out.set(typed(DST, n) as never, a);
    }
  }
}
