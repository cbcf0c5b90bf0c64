// The progress thread of one rank ([Note: progress thread] in progress.ts): runs the posted collectives in order
// on its own ThreadsTransport (same memories, same control block, same rank) and reports each one's outcome.
import { parentPort, workerData } from 'node:worker_threads';
import { toWire } from '../wire-error.js';
import {
  decodeEntry,
  E_ERRLEN,
  E_IN,
  E_OUT,
  E_STATUS,
  E_TIMEOUT,
  entryAt,
  ERROR_BYTES,
  helperStopped,
  mailboxOf,
  POSTED,
  QUEUE,
  type HelperData,
} from './progress.js';
import { ThreadsTransport } from './transport.js';

const d = workerData as HelperData;
const mb = mailboxOf(d.mailbox);
const w = mb.words;
const transport = new ThreadsTransport(d);
parentPort!.postMessage('ready'); // startHelper waits for it
const encoder = new TextEncoder();

for (let k = 0; ; k++) {
  while (Atomics.load(w, POSTED) <= k) {
    if (helperStopped(w)) process.exit(0);
    Atomics.wait(w, POSTED, k, 1000);
  }
  const e = entryAt(k),
    slot = k % QUEUE;
  let status = 1;
  try {
    const timeoutMs = w[e + E_TIMEOUT]!;
    // the timeout counts from the rank's call, not from when this thread got to it
    const deadline = mb.postedAt[slot]! - performance.timeOrigin + timeoutMs;
    const s = transport.runAt(decodeEntry(w, k), w[e + E_IN]! >>> 0, w[e + E_OUT]! >>> 0, deadline, timeoutMs);
    mb.stats[slot * 2] = s.bytesSent;
    mb.stats[slot * 2 + 1] = s.bytesReceived;
  } catch (err) {
    status = 2;
    let bytes = encoder.encode(JSON.stringify(toWire(err)));
    if (bytes.length > ERROR_BYTES) {
      const x = toWire(err);
      bytes = encoder.encode(JSON.stringify({ ...x, message: x.message.slice(0, ERROR_BYTES / 2), stack: undefined }));
    }
    mb.errors.set(bytes, slot * ERROR_BYTES);
    w[e + E_ERRLEN] = bytes.length;
  }
  Atomics.store(w, e + E_STATUS, status);
  Atomics.notify(w, e + E_STATUS);
}
