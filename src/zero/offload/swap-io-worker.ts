// Worker side of SwapIO: one positioned read or write at a time, into or out of a shared arena's bytes.
import { readSync, writeSync } from 'node:fs';
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';

const { ctrl, job, slot, port, errors } = workerData as {
  ctrl: SharedArrayBuffer;
  job: SharedArrayBuffer;
  slot: number;
  port: MessagePort;
  errors: MessagePort;
};
const c = new Int32Array(ctrl);
const j = new Float64Array(job, slot * 64, 8);
const at = slot * 8;
const views: Uint8Array[] = [];
const CHUNK = 1 << 30; // node:fs moves at most 2 GiB per call

let seen = 0;
for (;;) {
  // [Note: a wake-up is not a job] sleep until the sequence number moves past the I/O already done
  while (Atomics.load(c, at) === seen) Atomics.wait(c, at, seen);
  seen = Atomics.load(c, at);
  if (Atomics.load(c, at + 3) !== 0) break;
  try {
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
      const msg = m.message as { id: number; sab: SharedArrayBuffer };
      views[msg.id] = new Uint8Array(msg.sab);
    }
    const [op, fd, id, off, bytes, pos] = [j[0]!, j[1]!, j[2]!, j[3]!, j[4]!, j[5]!];
    const buf = views[id]!;
    for (let done = 0; done < bytes; ) {
      const len = Math.min(CHUNK, bytes - done);
      const n =
        op === 0 ? readSync(fd, buf, off + done, len, pos + done) : writeSync(fd, buf, off + done, len, pos + done);
      if (n <= 0)
        throw new Error(`${op === 0 ? 'read' : 'wrote'} ${done} of ${bytes} bytes (end of file or device full)`);
      done += n;
    }
  } catch (e) {
    errors.postMessage(e instanceof Error ? e.message : String(e));
    Atomics.store(c, at + 2, seen);
  }
  Atomics.store(c, at + 1, seen);
  Atomics.notify(c, at + 1);
}
