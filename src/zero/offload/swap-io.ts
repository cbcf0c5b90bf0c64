// Asynchronous reads and writes of swap files into host arenas (ZeRO-Infinity's NVMe path): a few worker_threads
// each run one positioned read or write at a time (node:fs, synchronous inside the worker, straight into the shared
// arena memory: no staging copy), so the engine's thread keeps stepping while the disk works. The caller submits,
// gets a ticket, and waits for it when it needs the bytes (or the buffer back). A failed read or write is an
// OffloadError naming the file.
import { readSync, writeSync } from 'node:fs';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { OffloadError, StateError } from '../../errors.js';

const WORDS = 8; // per worker: seq, done, failed, stop
const JOB = 8; // per worker (f64): op, fd, buffer id, byte offset, bytes, file position
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
  private readonly job: Float64Array;
  private readonly seqs: number[];
  private readonly busy: (Ticket | null)[];
  private readonly ids = new Map<SharedArrayBuffer, number>();
  private next = 0;
  private closed = false;
  /** bytes moved, for the benchmark */
  bytesRead = 0;
  bytesWritten = 0;

  constructor(readonly threads = 2) {
    this.ctrl = new Int32Array(new SharedArrayBuffer(threads * WORDS * 4));
    this.job = new Float64Array(new SharedArrayBuffer(threads * JOB * 8));
    this.seqs = new Array<number>(threads).fill(0);
    this.busy = new Array<Ticket | null>(threads).fill(null);
    for (let w = 0; w < threads; w++) {
      const { port1, port2 } = new MessageChannel();
      const err = new MessageChannel();
      const worker = new Worker(new URL('./swap-io-worker.js', import.meta.url), {
        workerData: { ctrl: this.ctrl.buffer, job: this.job.buffer, slot: w, port: port2, errors: err.port2 },
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

  /** Starts reading (or writing) `bytes` at file `position` into (from) `view`'s bytes; returns its ticket. */
  submit(op: 'read' | 'write', fd: number, path: string, view: Uint8Array, position: number): Ticket {
    if (this.closed) throw new StateError('swap I/O used after close()');
    if (this.threads === 0) return this.inline(op, fd, path, view, position);
    const sab = view.buffer as SharedArrayBuffer;
    const id = this.id(sab);
    // the first idle worker, else wait for the one submitted longest ago
    let w = this.busy.indexOf(null);
    if (w < 0) {
      w = this.next;
      this.wait(this.busy[w]!);
    }
    this.next = (w + 1) % this.threads;
    this.job.set([op === 'read' ? 0 : 1, fd, id, view.byteOffset, view.byteLength, position], w * JOB);
    const seq = ++this.seqs[w]!;
    const t: Ticket = { worker: w, seq, path, op };
    this.busy[w] = t;
    if (op === 'read') this.bytesRead += view.byteLength;
    else this.bytesWritten += view.byteLength;
    Atomics.store(this.ctrl, w * WORDS, seq);
    Atomics.notify(this.ctrl, w * WORDS);
    return t;
  }

  /** threads = 0: the I/O on the caller's thread, done when submit returns (see [Note: inline swap I/O]). */
  private inline(op: 'read' | 'write', fd: number, path: string, view: Uint8Array, position: number): Ticket {
    try {
      for (let done = 0; done < view.byteLength; ) {
        const len = Math.min(1 << 30, view.byteLength - done);
        const n =
          op === 'read'
            ? readSync(fd, view, done, len, position + done)
            : writeSync(fd, view, done, len, position + done);
        if (n <= 0)
          throw new Error(`${op} stopped after ${done} of ${view.byteLength} bytes (end of file or device full)`);
        done += n;
      }
    } catch (e) {
      throw new OffloadError(
        `swap ${op} of ${path} failed: ${(e as Error).message}. The swap files are scratch: check the nvme_path ` +
          'device (space, permissions, health) and restart from the last checkpoint.',
        path,
      );
    }
    if (op === 'read') this.bytesRead += view.byteLength;
    else this.bytesWritten += view.byteLength;
    return { worker: -1, seq: 0, path, op };
  }

  /** Returns when the ticket's I/O is done; throws OffloadError naming the file when it failed. */
  wait(t: Ticket): void {
    if (t.worker < 0) return; // done inline
    const at = t.worker * WORDS;
    const started = Date.now();
    for (;;) {
      const d = Atomics.load(this.ctrl, at + 1);
      if (d >= t.seq) break;
      if (Date.now() - started > WAIT_LIMIT_MS)
        throw new OffloadError(`swap ${t.op} of ${t.path} did not finish within ${WAIT_LIMIT_MS / 1000} s`, t.path);
      Atomics.wait(this.ctrl, at + 1, d, 1000);
    }
    if (this.busy[t.worker] === t) this.busy[t.worker] = null;
    if (Atomics.load(this.ctrl, at + 2) === t.seq) {
      Atomics.store(this.ctrl, at + 2, 0);
      const m = receiveMessageOnPort(this.errors[t.worker]!);
      throw new OffloadError(
        `swap ${t.op} of ${t.path} failed: ${String(m?.message ?? 'unknown error')}. The swap files are scratch: ` +
          'check the nvme_path device (space, permissions, health) and restart from the last checkpoint.',
        t.path,
      );
    }
  }

  /** Waits for everything submitted (the first failure is thrown after all have finished). */
  drain(): void {
    let first: unknown = null;
    for (const t of this.busy) {
      if (t === null) continue;
      try {
        this.wait(t);
      } catch (e) {
        first ??= e;
      }
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
      Atomics.store(this.ctrl, w * WORDS + 3, 1);
      Atomics.store(this.ctrl, w * WORDS, ++this.seqs[w]!);
      Atomics.notify(this.ctrl, w * WORDS);
    }
    for (const w of this.workers) void w.terminate();
    for (const p of [...this.ports, ...this.errors]) p.close();
  }
}
