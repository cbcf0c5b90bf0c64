// GEMM split by rows of C over the calling thread plus helper worker_threads sharing one memory (used by the
// threaded GEMM benchmark; a rank that owns several cores could use it too). Each thread has its own packing
// scratch. The calling thread hands out work through a small control block of i32 words in the same memory and
// waits on it with Atomics (synchronous, like the rest of the kernels).
import { Worker } from 'node:worker_threads';
import { ConfigError } from '../errors.js';
import { createWasmKernels, type WasmKernels } from './wasm.js';
import type { Ptr } from './types.js';
import type { WasmMemory } from './wasm-api.js';

/** Control block layout (i32 words) per worker; CTRL_BYTES per worker, 64-byte aligned. */
export const CTRL_WORDS = 16;
export const CTRL_BYTES = CTRL_WORDS * 4;
export enum Ctrl {
  Seq = 0,
  Done = 1,
  Stop = 2,
  C = 3,
  Ldc = 4,
  A = 5,
  Lda = 6,
  B = 7,
  Ldb = 8,
  M = 9,
  N = 10,
  K = 11,
  Flags = 12,
}

export class ParallelGemm {
  private constructor(
    private readonly memory: WasmMemory,
    private readonly own: WasmKernels,
    private readonly workers: Worker[],
    private readonly ctrl: Ptr[],
  ) {}

  /**
   * threads - 1 workers are started; `scratch[t]` is kernelScratchBytes() of workspace for thread t (t = 0 is the
   * caller) and `ctrl` is (threads - 1) * CTRL_BYTES bytes for the control blocks.
   */
  static async start(memory: WasmMemory, scratch: Ptr[], ctrl: Ptr): Promise<ParallelGemm> {
    if (scratch.length < 1)
      throw new ConfigError(`parallel gemm: needs one scratch pointer per thread, got ${scratch.length}`, 'scratch');
    const workers: Worker[] = [];
    const ctrls: Ptr[] = [];
    for (let t = 1; t < scratch.length; t++) {
      const c = ctrl + (t - 1) * CTRL_BYTES;
      new Int32Array(memory.buffer, c, CTRL_WORDS).fill(0);
      const w = new Worker(new URL('./gemm-worker.js', import.meta.url), {
        workerData: { memory, scratch: scratch[t], ctrl: c },
      });
      await new Promise<void>((resolve, reject) => {
        w.once('message', () => resolve());
        w.once('error', reject);
      });
      w.unref();
      workers.push(w);
      ctrls.push(c);
    }
    return new ParallelGemm(memory, createWasmKernels(memory, scratch[0]!), workers, ctrls);
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  /** Same contract as Kernels.matmul. */
  matmul(
    C: Ptr,
    A: Ptr,
    B: Ptr,
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
    accumulate: boolean,
  ): void {
    const lda = transA ? M : K,
      ldb = transB ? K : N;
    const parts = this.threads;
    // Row blocks in multiples of 6 (the register tile's rows), the caller takes the first.
    const per = Math.ceil(M / parts / 6) * 6;
    const i32 = new Int32Array(this.memory.buffer);
    const flags = (transA ? 1 : 0) | (transB ? 2 : 0) | (accumulate ? 4 : 0);
    const seqs: number[] = [];
    for (let w = 0; w < this.workers.length; w++) {
      const r0 = Math.min(M, per * (w + 1)),
        r1 = Math.min(M, per * (w + 2));
      const c = this.ctrl[w]! >>> 2;
      const aOff = transA ? A + r0 * 4 : A + r0 * lda * 4;
      i32.set([C + r0 * N * 4, N, aOff, lda, B, ldb, r1 - r0, N, K, flags], c + Ctrl.C);
      seqs.push(Atomics.add(i32, c + Ctrl.Seq, 1) + 1);
      Atomics.notify(i32, c + Ctrl.Seq);
    }
    const m0 = Math.min(M, per);
    this.own.gemmStrided(C, N, A, lda, B, ldb, m0, N, K, transA, transB, accumulate, 1);
    for (let w = 0; w < this.workers.length; w++) {
      const c = this.ctrl[w]! >>> 2;
      for (;;) {
        const d = Atomics.load(i32, c + Ctrl.Done);
        if (d === seqs[w]) break;
        Atomics.wait(i32, c + Ctrl.Done, d, 1000);
      }
    }
  }

  async close(): Promise<void> {
    const i32 = new Int32Array(this.memory.buffer);
    for (const c of this.ctrl) {
      Atomics.store(i32, (c >>> 2) + Ctrl.Stop, 1);
      Atomics.add(i32, (c >>> 2) + Ctrl.Seq, 1);
      Atomics.notify(i32, (c >>> 2) + Ctrl.Seq);
    }
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
