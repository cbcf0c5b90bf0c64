// The offloaded step's CPU threads (DeepSpeed's CPUAdam runs on every core): the calling thread plus threads - 1
// worker_threads that share the host arenas and the device memory (all SharedArrayBuffers). A job (adam-job.ts) is
// written into a shared job buffer; each thread runs its part; the caller waits with Atomics, so the step stays
// synchronous like the rest of the engine. New buffers reach the workers over a MessagePort that they drain with
// receiveMessageOnPort when woken, so registering never needs the caller's event loop.
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { StateError } from '../../errors.js';
import { createKernels } from '../../kernels/index.js';
import type { Kernels } from '../../kernels/types.js';
import type { WasmMemory } from '../../kernels/wasm-api.js';
import { HEADER_WORDS, ROW_WORDS, H, runPart, type JobEnv } from './adam-job.js';

/** Control words per worker: sequence, done, failed. */
const CTRL = 4;
const WAIT_LIMIT_MS = 120_000;

export interface Registered {
  readonly sab: SharedArrayBuffer;
  readonly memory: WasmMemory | null;
}

export class HostThreads implements JobEnv {
  readonly threads: number;
  private readonly registry: Registered[] = [];
  private readonly ids = new Map<SharedArrayBuffer, number>();
  private readonly views: Uint8Array[] = [];
  private readonly kernelCache = new Map<number, Kernels>();
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private readonly errors: MessagePort[] = [];
  private readonly ctrl: Int32Array;
  /** the next chunk of the running job ([0]: claimed with Atomics.add by every thread) */
  private readonly chunks = new Int32Array(new SharedArrayBuffer(4));
  private readonly claim = () => Atomics.add(this.chunks, 0, 1);
  private job = new Float64Array(new SharedArrayBuffer((HEADER_WORDS + 256 * ROW_WORDS) * 8));
  private seq = 0;
  private closed = false;

  constructor(
    threads: number,
    private readonly backend: 'wasm' | 'js' = 'wasm',
  ) {
    this.threads = Math.max(1, Math.min(64, Math.floor(threads)));
    this.ctrl = new Int32Array(new SharedArrayBuffer(Math.max(1, this.threads - 1) * CTRL * 4));
    for (let t = 1; t < this.threads; t++) {
      const { port1, port2 } = new MessageChannel();
      const err = new MessageChannel();
      const w = new Worker(new URL('./host-worker.js', import.meta.url), {
        workerData: {
          ctrl: this.ctrl.buffer,
          chunks: this.chunks.buffer,
          slot: t - 1,
          port: port2,
          errors: err.port2,
          backend,
          part: t,
        },
        transferList: [port2, err.port2],
      });
      w.unref();
      this.workers.push(w);
      this.ports.push(port1);
      this.errors.push(err.port1);
      port1.postMessage({ job: this.job.buffer });
    }
  }

  /** Registry id of a shared buffer (a host arena's or a device's memory), registered once. */
  register(sab: SharedArrayBuffer, memory: WasmMemory | null = null): number {
    const hit = this.ids.get(sab);
    if (hit !== undefined) {
      if (memory !== null && this.registry[hit]!.memory === null) this.registry[hit] = { sab, memory };
      else return hit;
      for (const p of this.ports) p.postMessage({ id: hit, sab, memory });
      return hit;
    }
    const id = this.registry.length;
    this.registry.push({ sab, memory });
    this.ids.set(sab, id);
    this.views.push(new Uint8Array(sab));
    for (const p of this.ports) p.postMessage({ id, sab, memory });
    return id;
  }

  bytes(id: number): Uint8Array {
    return this.views[id]!;
  }

  kernels(id: number): Kernels {
    let k = this.kernelCache.get(id);
    if (k === undefined) {
      const m = this.registry[id]!.memory;
      if (m === null) throw new StateError(`host threads: buffer ${id} has no memory to run kernels on`);
      k = createKernels({ memory: m, scratch: 0, backend: this.backend });
      this.kernelCache.set(id, k);
    }
    return k;
  }

  /** A job buffer with room for `rows` rows (the previous contents are not kept). */
  jobBuffer(rows: number): Float64Array {
    const words = HEADER_WORDS + rows * ROW_WORDS;
    if (this.job.length < words) {
      this.job = new Float64Array(new SharedArrayBuffer(Math.max(words, this.job.length * 2) * 8));
      for (const p of this.ports) p.postMessage({ job: this.job.buffer });
    }
    return this.job;
  }

  /** Runs the job now in the job buffer on every thread and returns when all parts are done. */
  run(): void {
    if (this.closed) throw new StateError('host threads: used after close()');
    const job = this.job;
    job[H.Parts] = this.threads;
    Atomics.store(this.chunks, 0, 0);
    this.seq++;
    for (let w = 0; w < this.workers.length; w++) {
      Atomics.store(this.ctrl, w * CTRL, this.seq);
      Atomics.notify(this.ctrl, w * CTRL);
    }
    let failure: unknown = null;
    try {
      runPart(this, job, 0, this.claim);
    } catch (e) {
      failure = e;
    }
    for (let w = 0; w < this.workers.length; w++) {
      const started = Date.now();
      for (;;) {
        const d = Atomics.load(this.ctrl, w * CTRL + 1);
        if (d === this.seq) break;
        if (Date.now() - started > WAIT_LIMIT_MS)
          throw new StateError(`host threads: worker ${w + 1} did not finish its part within ${WAIT_LIMIT_MS} ms`);
        Atomics.wait(this.ctrl, w * CTRL + 1, d, 1000);
      }
      if (Atomics.load(this.ctrl, w * CTRL + 2) !== 0) {
        Atomics.store(this.ctrl, w * CTRL + 2, 0);
        const m = receiveMessageOnPort(this.errors[w]!);
        failure ??= new StateError(`host threads: worker ${w + 1} failed: ${String(m?.message ?? 'unknown error')}`);
      }
    }
    if (failure !== null) throw failure;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (let w = 0; w < this.workers.length; w++) {
      Atomics.store(this.ctrl, w * CTRL + 3, 1);
      Atomics.add(this.ctrl, w * CTRL, 1);
      Atomics.notify(this.ctrl, w * CTRL);
    }
    for (const w of this.workers) void w.terminate();
    for (const p of [...this.ports, ...this.errors]) p.close();
  }
}
