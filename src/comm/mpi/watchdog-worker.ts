// The watchdog thread (watchdog.ts): sleeps while no collective is armed; when one stays armed past its deadline,
// prints the standard timeout message and ends the process, so that mpirun ends the job.
import { writeSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { decodeDesc, timeoutError } from '../desc.js';

const sab = workerData as SharedArrayBuffer;
const words = new Int32Array(sab, 0, 12);
const deadline = new Float64Array(sab, 48, 1);

const POLL_MS = 50;
const nap = new Int32Array(new SharedArrayBuffer(4));

for (;;) {
  Atomics.wait(nap, 0, 0, POLL_MS);
  if (Atomics.load(words, 1) !== 0) break;
  const g = Atomics.load(words, 0);
  if ((g & 1) === 0 || performance.timeOrigin + performance.now() < deadline[0]!) continue;
  if (Atomics.load(words, 0) !== g) continue; // returned meanwhile
  const e = timeoutError(decodeDesc(words, 2), words[10]!, words[11]!, 'the other ranks (MPI transport)');
  writeSync(2, `zerots: ${e.name}: ${e.message}; ending this rank (SIGTERM), so mpirun ends the job\n`);
  process.kill(process.pid, 'SIGTERM');
  break;
}
