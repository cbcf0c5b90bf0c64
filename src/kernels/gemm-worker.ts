// Worker side of ParallelGemm: waits for a new sequence number in its control block, runs its row block of the
// GEMM on the shared memory, publishes the sequence number as done.
import { parentPort, workerData } from 'node:worker_threads';
import { createWasmKernels } from './wasm.js';
import { Ctrl } from './parallel-gemm.js';
import type { WasmMemory } from './wasm-api.js';

const { memory, scratch, ctrl } = workerData as { memory: WasmMemory; scratch: number; ctrl: number };
const k = createWasmKernels(memory, scratch);
const i32 = new Int32Array(memory.buffer);
const c = ctrl >>> 2;
parentPort!.postMessage('ready');
let seen = 0;
for (;;) {
  // [Note: a wake-up is not a job] (docs/design-notes.md): sleep until the sequence number moves on
  while (Atomics.load(i32, c + Ctrl.Seq) === seen) Atomics.wait(i32, c + Ctrl.Seq, seen);
  seen = Atomics.load(i32, c + Ctrl.Seq);
  if (Atomics.load(i32, c + Ctrl.Stop) !== 0) break;
  const f = i32[c + Ctrl.Flags]!;
  // pointers may exceed 2^31 in a 4 GiB memory: read them unsigned
  k.gemmStrided(
    i32[c + Ctrl.C]! >>> 0,
    i32[c + Ctrl.Ldc]!,
    i32[c + Ctrl.A]! >>> 0,
    i32[c + Ctrl.Lda]!,
    i32[c + Ctrl.B]! >>> 0,
    i32[c + Ctrl.Ldb]!,
    i32[c + Ctrl.M]!,
    i32[c + Ctrl.N]!,
    i32[c + Ctrl.K]!,
    (f & 1) !== 0,
    (f & 2) !== 0,
    (f & 4) !== 0,
    1,
  );
  Atomics.store(i32, c + Ctrl.Done, seen);
  Atomics.notify(i32, c + Ctrl.Done);
}
