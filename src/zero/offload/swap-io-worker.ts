// Worker side of SwapIO: runs its queue of positioned reads and writes in order, into or out of shared arenas'
// bytes, publishing each one's sequence number as done (and the first failure's, with its message on the error port).
// A job is moved in calls of at most aio.block_size bytes (counted in control word 4).
import { readSync, writeSync } from 'node:fs';
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { IO_JOB, IO_QUEUE, IO_WORDS } from './swap-io.js';

const { ctrl, jobs, slot, port, errors, block } = workerData as {
  ctrl: SharedArrayBuffer;
  jobs: SharedArrayBuffer;
  slot: number;
  port: MessagePort;
  errors: MessagePort;
  block: number | null;
};
const c = new Int32Array(ctrl);
const j = new Float64Array(jobs, slot * IO_QUEUE * IO_JOB * 8, IO_QUEUE * IO_JOB);
const at = slot * IO_WORDS;
const views: Uint8Array[] = [];
// node:fs moves at most 2 GiB per call; aio.block_size caps a call lower
const CHUNK = Math.min(1 << 30, block ?? 1 << 30);

function run(o: number): void {
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
    const msg = m.message as { id: number; sab: SharedArrayBuffer };
    views[msg.id] = new Uint8Array(msg.sab);
  }
  const [op, fd, id, off, bytes, pos] = [j[o]!, j[o + 1]!, j[o + 2]!, j[o + 3]!, j[o + 4]!, j[o + 5]!];
  const buf = views[id]!;
  for (let done = 0; done < bytes; ) {
    const len = Math.min(CHUNK, bytes - done);
    const n =
      op === 0 ? readSync(fd, buf, off + done, len, pos + done) : writeSync(fd, buf, off + done, len, pos + done);
    if (n <= 0)
      throw new Error(`${op === 0 ? 'read' : 'wrote'} ${done} of ${bytes} bytes (end of file or device full)`);
    done += n;
    Atomics.add(c, at + 4, 1);
  }
}

let done = 0;
for (;;) {
  // [Note: a wake-up is not a job] sleep until the submitted sequence number moves past the I/O already done
  while (Atomics.load(c, at) === done) Atomics.wait(c, at, done);
  if (Atomics.load(c, at + 3) !== 0) break;
  const upto = Atomics.load(c, at);
  for (let s = done + 1; s <= upto; s++) {
    try {
      run((s % IO_QUEUE) * IO_JOB);
    } catch (e) {
      if (Atomics.load(c, at + 2) === 0) {
        errors.postMessage(e instanceof Error ? e.message : String(e));
        Atomics.store(c, at + 2, s);
      }
    }
    Atomics.store(c, at + 1, s);
    Atomics.notify(c, at + 1);
  }
  done = upto;
}
