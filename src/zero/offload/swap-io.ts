// Asynchronous reads and writes of swap files into host arenas (ZeRO-Infinity's NVMe path): a few worker_threads
// each run a queue of positioned reads and writes in order (node:fs, synchronous inside the worker, straight into
// the shared arena memory: no staging copy), so the engine's thread keeps stepping while the disk works. The caller
// submits, gets a ticket, and waits for it when it needs the bytes (or the buffer back). A submission may name a
// ticket it must follow ("read sub-group k+1 into this buffer once its write of k-1 is done"): it is queued behind
// it on the same worker, so neither waits on the caller's thread. A failed read or write is an OffloadError naming
// the file; it stays the I/O's error (every later wait throws it): the engine stops.
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { OffloadError, StateError } from '../../errors.js';

/** Control words per worker: submitted (sequence number), done, first failed sequence number, stop, node:fs calls. */
export const IO_WORDS = 8;
/** Jobs a worker's queue holds; each job: op, fd, buffer id, byte offset, bytes, file position. */
export const IO_QUEUE = 8;
export const IO_JOB = 8;
const WAIT_LIMIT_MS = 600_000;

export interface Ticket {
  readonly worker: number;
  readonly seq: number;
  readonly path: string;
  readonly op: 'read' | 'write';
}

export class SwapIO {
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private readonly errors: MessagePort[] = [];
  private readonly ctrl: Int32Array;
  private readonly jobs: Float64Array;
  private readonly seqs: number[];
  /** per worker, the tickets submitted and not yet seen done, oldest first */
  private readonly pending: Ticket[][];
  private readonly ids = new Map<SharedArrayBuffer, number>();
  private failure: OffloadError | null = null;
  private closed = false;
  /** bytes moved, for the benchmark */
  bytesRead = 0;
  bytesWritten = 0;
  /** the workers' single reads and writes (calls into node:fs), counted by them: a transfer over blockBytes is several */
  get calls(): number {
    let n = 0;
    for (let w = 0; w < this.threads; w++) n += Atomics.load(this.ctrl, w * IO_WORDS + 4);
    return n;
  }

  constructor(
    readonly threads = 2,
    /** the largest single read or write a worker issues (aio.block_size; null: node:fs's 1 GiB a call) */
    readonly blockBytes: number | null = null,
  ) {
    if (!(Number.isInteger(threads) && threads >= 1)) throw new StateError(`swap I/O: ${threads} threads (at least 1)`);
    if (blockBytes !== null && !(Number.isInteger(blockBytes) && blockBytes >= 1))
      throw new StateError(`swap I/O: blocks of ${blockBytes} bytes`);
    this.ctrl = new Int32Array(new SharedArrayBuffer(threads * IO_WORDS * 4));
    this.jobs = new Float64Array(new SharedArrayBuffer(threads * IO_QUEUE * IO_JOB * 8));
    this.seqs = new Array<number>(threads).fill(0);
    this.pending = Array.from({ length: threads }, () => []);
    const block = blockBytes;
    for (let w = 0; w < threads; w++) {
      const { port1, port2 } = new MessageChannel();
      const err = new MessageChannel();
      const worker = new Worker(new URL('./swap-io-worker.js', import.meta.url), {
        workerData: { ctrl: this.ctrl.buffer, jobs: this.jobs.buffer, slot: w, port: port2, errors: err.port2, block },
        transferList: [port2, err.port2],
      });
      worker.unref();
      this.workers.push(worker);
      this.ports.push(port1);
      this.errors.push(err.port1);
    }
  }

  private id(sab: SharedArrayBuffer): number {
    let id = this.ids.get(sab);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(sab, id);
      for (const p of this.ports) p.postMessage({ id, sab });
    }
    return id;
  }

  /**
   * Starts reading (or writing) `bytes` at file `position` into (from) `view`'s bytes; returns its ticket. With
   * `after`, the I/O starts only once that ticket's has finished (queued behind it on the same worker).
   */
  submit(
    op: 'read' | 'write',
    fd: number,
    path: string,
    view: Uint8Array,
    position: number,
    after: Ticket | null = null,
  ): Ticket {
    if (this.closed) throw new StateError('swap I/O used after close()');
    if (this.failure !== null) throw this.failure;
    const sab = view.buffer as SharedArrayBuffer;
    const id = this.id(sab);
    const w = after !== null && !this.done(after) ? after.worker : this.leastBusy();
    const q = this.pending[w]!;
    while (q.length >= IO_QUEUE) this.wait(q[0]!);
    const seq = ++this.seqs[w]!;
    this.jobs.set(
      [op === 'read' ? 0 : 1, fd, id, view.byteOffset, view.byteLength, position],
      (w * IO_QUEUE + (seq % IO_QUEUE)) * IO_JOB,
    );
    const t: Ticket = { worker: w, seq, path, op };
    q.push(t);
    if (op === 'read') this.bytesRead += view.byteLength;
    else this.bytesWritten += view.byteLength;
    Atomics.store(this.ctrl, w * IO_WORDS, seq);
    Atomics.notify(this.ctrl, w * IO_WORDS);
    return t;
  }

  /** True when the ticket's I/O has finished (successfully or not). */
  done(t: Ticket): boolean {
    return Atomics.load(this.ctrl, t.worker * IO_WORDS + 1) >= t.seq;
  }

  /** Returns when the ticket's I/O is done; throws OffloadError naming the file when it (or an earlier one) failed. */
  wait(t: Ticket): void {
    const at = t.worker * IO_WORDS;
    const started = Date.now();
    for (;;) {
      const d = Atomics.load(this.ctrl, at + 1);
      if (d >= t.seq) break;
      if (Date.now() - started > WAIT_LIMIT_MS)
        throw new OffloadError(`swap ${t.op} of ${t.path} did not finish within ${WAIT_LIMIT_MS / 1000} s`, t.path);
      Atomics.wait(this.ctrl, at + 1, d, 1000);
    }
    const q = this.pending[t.worker]!;
    const failed = Atomics.load(this.ctrl, at + 2);
    while (q.length > 0 && q[0]!.seq <= t.seq) {
      const done = q.shift()!;
      if (done.seq === failed && this.failure === null) {
        const m = receiveMessageOnPort(this.errors[t.worker]!);
        this.failure = new OffloadError(
          `swap ${done.op} of ${done.path} failed: ${String(m?.message ?? 'unknown error')}. The swap files are ` +
            'scratch: check the nvme_path device (space, permissions, health) and restart from the last checkpoint.',
          done.path,
        );
      }
    }
    if (this.failure !== null) throw this.failure;
  }

  /** Waits for everything submitted (a failure is thrown after all have finished). */
  drain(): void {
    let first: unknown = null;
    for (const q of this.pending)
      if (q.length > 0)
        try {
          this.wait(q[q.length - 1]!);
        } catch (e) {
          first ??= e;
        }
    if (first !== null) throw first;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.drain();
    } catch {
      // closing after a failure: the error was reported where it happened
    }
    for (let w = 0; w < this.threads; w++) {
      Atomics.store(this.ctrl, w * IO_WORDS + 3, 1);
      Atomics.add(this.ctrl, w * IO_WORDS, 1);
      Atomics.notify(this.ctrl, w * IO_WORDS);
    }
    for (const w of this.workers) void w.terminate();
    for (const p of [...this.ports, ...this.errors]) p.close();
  }

  private leastBusy(): number {
    let best = 0;
    for (let w = 0; w < this.threads; w++) {
      const q = this.pending[w]!;
      while (q.length > 0 && this.done(q[0]!) && q[0]!.seq !== Atomics.load(this.ctrl, w * IO_WORDS + 2)) q.shift();
      if (q.length < this.pending[best]!.length) best = w;
    }
    return best;
  }
}
