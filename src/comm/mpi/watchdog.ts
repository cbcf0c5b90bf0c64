// The MPI transport's deadline keeper. A blocking MPI call cannot be interrupted from JavaScript, so a helper
// thread watches each collective: run() arms it with the call's desc and deadline, and disarms it when the call
// returns. Past the deadline the helper writes the standard CollectiveTimeoutError message to stderr and ends the
// process (SIGTERM); mpirun then ends every rank of the job. Arming is a few plain stores and no system call: the
// helper polls every POLL_MS (waking it per call cost a context switch per collective), so a timeout fires up to
// POLL_MS late.
import { Worker } from 'node:worker_threads';
import { encodeDesc } from '../desc.js';
import type { CollectiveCall } from '../transport.js';

/** Int32 words: [0] generation (odd = armed), [1] stop, [2..10) desc, [10] rank, [11] timeoutMs; f64 at byte 48. */
const WORDS = 12;

export class Watchdog {
  private readonly words: Int32Array;
  private readonly deadline: Float64Array;
  private worker: Worker | null = null;

  constructor(rank: number) {
    const sab = new SharedArrayBuffer(WORDS * 4 + 8);
    this.words = new Int32Array(sab, 0, WORDS);
    this.deadline = new Float64Array(sab, WORDS * 4, 1);
    this.words[10] = rank;
    this.worker = new Worker(new URL('./watchdog-worker.js', import.meta.url), { workerData: sab });
    this.worker.unref(); // never keeps the process alive
  }

  arm(call: CollectiveCall): void {
    encodeDesc(call.desc, this.words, 2);
    this.words[11] = Math.min(call.timeoutMs, 0x7fffffff);
    // An absolute time both threads read without a clock call here: timeOrigin + the performance.now() deadline.
    this.deadline[0] = performance.timeOrigin + call.deadline;
    Atomics.add(this.words, 0, 1);
  }

  disarm(): void {
    Atomics.add(this.words, 0, 1);
  }

  stop(): void {
    Atomics.store(this.words, 1, 1);
    Atomics.add(this.words, 0, 2);
    Atomics.notify(this.words, 0);
    void this.worker?.terminate();
    this.worker = null;
  }
}
