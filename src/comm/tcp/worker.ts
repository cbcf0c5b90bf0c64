// The comm helper thread of a TCP process group (one per group per process). It owns every socket, so the rank's
// main thread may block in Atomics.wait during a collective while this thread moves and folds the data in the
// rank's shared memory, and keeps answering heartbeats (and, on rank 0, the rendezvous store).
// Protocol with the main thread (tcp-transport.ts):
//   parentPort: 'ready' | {type:'error', error} once setup finished;
//   `port` in:  {type:'op', ...OpRequest} | {type:'abort', error} | {type:'close'};
//   `port` out: OpResult per op, followed by Atomics.add(ctl[0]) + notify, so a blocked main thread wakes and
//               reads it with receiveMessageOnPort. ctl[1] = peers the running op still waits for (bit per rank),
//               ctl[2] = its seq; ctl[3] = 1 once a close finished (peers hung up too, or the grace passed).
import { writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { CollectiveRunner } from './collective-runner.js';
import type { OpRequest } from './collective-runner.js';
import { toWire, type WireError, wire } from '../wire-error.js';
import { buildMesh } from './mesh.js';
import type { MeshOptions } from './mesh.js';

interface Init extends Omit<MeshOptions, 'log'> {
  ctl: SharedArrayBuffer;
  port: MessagePort;
  quiet: boolean;
  closeGraceMs: number;
}

const init = workerData as Init;
const ctl = new Int32Array(init.ctl);
// Straight to the process's stderr: console in a worker thread goes through the main thread's event loop, which a
// training rank blocks for seconds at a time (its lines would come late, or be lost at exit).
const log = (line: string) => {
  if (init.quiet) return;
  try {
    writeSync(2, `${line}\n`);
  } catch {
    /* stderr closed: nobody to tell */
  }
};

async function main(): Promise<void> {
  let mesh: Awaited<ReturnType<typeof buildMesh>>;
  try {
    mesh = await buildMesh({ ...init, log });
  } catch (e) {
    parentPort!.postMessage({ type: 'error', error: toWire(e) });
    return;
  }
  const port = init.port;
  const runner = new CollectiveRunner(
    init.rank,
    init.worldSize,
    mesh.links,
    (r) => {
      port.postMessage(r);
      Atomics.add(ctl, 0, 1);
      Atomics.notify(ctl, 0);
    },
    (mask, seq) => {
      ctl[1] = mask;
      ctl[2] = seq;
    },
    log,
  );
  port.on('message', (m: { type: string } & Partial<OpRequest> & { error?: WireError }) => {
    if (m.type === 'op') {
      try {
        runner.post(m as OpRequest);
      } catch (e) {
        // A bug here must fail the collective loudly, not leave the rank waiting for its deadline.
        log(`zerots rank ${init.rank}: TCP comm helper failed: ${(e as Error).stack}`);
        runner.abort(wire('Error', `rank ${init.rank}: TCP comm helper failed: ${(e as Error).message}`), true);
      }
    } else if (m.type === 'abort') runner.abort(m.error!, true);
    else if (m.type === 'close') {
      runner.close(init.closeGraceMs, () => {
        mesh.close();
        port.close();
        Atomics.store(ctl, 3, 1);
        Atomics.notify(ctl, 3);
      });
    }
  });
  parentPort!.postMessage({ type: 'ready', links: mesh.info });
}

void main();
