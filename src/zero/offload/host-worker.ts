// Worker side of HostThreads: waits for a new sequence number, takes new buffers and job buffers from its port,
// claims chunks of the job until none is left, publishes the sequence number as done (and a failure on its error
// port).
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { createKernels } from '../../kernels/index.js';
import type { Kernels } from '../../kernels/types.js';
import type { WasmMemory } from '../../kernels/wasm-api.js';
import { runPart, type JobEnv } from './adam-job.js';

const { ctrl, chunks, slot, port, errors, backend, part } = workerData as {
  ctrl: SharedArrayBuffer;
  chunks: SharedArrayBuffer;
  slot: number;
  port: MessagePort;
  errors: MessagePort;
  backend: 'wasm' | 'js';
  part: number;
};
const c = new Int32Array(ctrl);
const next = new Int32Array(chunks);
const claim = () => Atomics.add(next, 0, 1);
const at = slot * 4;
const views: Uint8Array[] = [];
const memories: (WasmMemory | null)[] = [];
const kernels = new Map<number, Kernels>();
let job: Float64Array = new Float64Array(0);

const env: JobEnv = {
  bytes: (id) => views[id]!,
  kernels(id) {
    let k = kernels.get(id);
    if (k === undefined) {
      k = createKernels({ memory: memories[id]!, scratch: 0, backend });
      kernels.set(id, k);
    }
    return k;
  },
};

let seen = 0;
for (;;) {
  // [Note: a wake-up is not a job] sleep until the sequence number moves past the part already done
  while (Atomics.load(c, at) === seen) Atomics.wait(c, at, seen);
  seen = Atomics.load(c, at);
  if (Atomics.load(c, at + 3) !== 0) break;
  try {
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
      const msg = m.message as { job?: SharedArrayBuffer; id?: number; sab?: SharedArrayBuffer; memory?: WasmMemory };
      if (msg.job !== undefined) job = new Float64Array(msg.job);
      else {
        views[msg.id!] = new Uint8Array(msg.sab!);
        memories[msg.id!] = msg.memory ?? null;
        kernels.delete(msg.id!);
      }
    }
    runPart(env, job, part, claim);
  } catch (e) {
    errors.postMessage(e instanceof Error ? e.message : String(e));
    Atomics.store(c, at + 2, 1);
  }
  Atomics.store(c, at + 1, seen);
  Atomics.notify(c, at + 1);
}
