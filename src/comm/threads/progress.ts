// [Note: progress thread] The optional helper thread that progresses *Async collectives while the rank's thread
// computes (true overlap, when there is a free core). The rank posts calls into a mailbox (a SharedArrayBuffer
// ring of QUEUE entries: desc, buffer offsets, timeout; then status, byte counts and a serialized error); the helper
// (helper.ts) runs them in order on its own ThreadsTransport over the same memories and control block, and marks
// each done. Ordering: a synchronous collective first drains the queue, so the rank's thread and its helper never
// run collectives (or use the comm slot) at the same time and every collective keeps its sequence number's place.
import { Worker } from 'node:worker_threads';
import { CollectiveTimeoutError, StateError } from '../../errors.js';
import { DESC_WORDS, decodeDesc, describe, encodeDesc } from '../desc.js';
import type { CollectiveCall, CollectiveDesc, PendingTransfer, TransferStats, Transport } from '../transport.js';
import type { CommBuffer } from '../types.js';
import type { CommMemory } from '../wasm.js';
import { fromWire, type WireError } from '../wire-error.js';
import type { ThreadsTransport, ThreadsTransportOptions } from './transport.js';

export const QUEUE = 16;
const POSTED = 0,
  STOP = 2,
  HEADER = 4;
const ENTRY = 16; // words: desc, in, out, timeoutMs, status
export const E_IN = DESC_WORDS,
  E_OUT = DESC_WORDS + 1,
  E_TIMEOUT = DESC_WORDS + 2,
  E_STATUS = DESC_WORDS + 3,
  E_ERRLEN = DESC_WORDS + 4;
export const ERROR_BYTES = 2048;

export interface Mailbox {
  words: Int32Array; // header, then QUEUE entries of ENTRY words
  stats: Float64Array; // per entry: bytesSent, bytesReceived
  errors: Uint8Array; // per entry: ERROR_BYTES of UTF-8 JSON (a WireError)
  /** per entry: when the rank posted it (ms since the epoch): the collective's timeout counts from the call */
  postedAt: Float64Array;
}

export function mailboxOf(sab: SharedArrayBuffer): Mailbox {
  const wordsBytes = (HEADER + QUEUE * ENTRY) * 4;
  return {
    words: new Int32Array(sab, 0, HEADER + QUEUE * ENTRY),
    stats: new Float64Array(sab, wordsBytes, QUEUE * 2),
    errors: new Uint8Array(sab, wordsBytes + QUEUE * 16, QUEUE * ERROR_BYTES),
    postedAt: new Float64Array(sab, wordsBytes + QUEUE * 16 + QUEUE * ERROR_BYTES, QUEUE),
  };
}

export function createMailbox(): SharedArrayBuffer {
  return new SharedArrayBuffer((HEADER + QUEUE * ENTRY) * 4 + QUEUE * 16 + QUEUE * ERROR_BYTES + QUEUE * 8);
}

export function entryAt(k: number): number {
  return HEADER + (k % QUEUE) * ENTRY;
}

/** What helper.ts gets as workerData. */
export interface HelperData extends Omit<ThreadsTransportOptions, 'memories'> {
  memories: CommMemory[];
  mailbox: SharedArrayBuffer;
}

class Pending implements PendingTransfer {
  stats: TransferStats | null = null;
  error: Error | null = null;
  constructor(
    readonly k: number,
    readonly desc: CollectiveDesc,
    readonly timeoutMs: number,
    private readonly owner: ProgressTransport,
  ) {}
  get done(): boolean {
    return this.owner.poll(this);
  }
  wait(): TransferStats {
    this.owner.waitFor(this);
    if (this.error) throw this.error;
    return this.stats!;
  }
}

/** A ThreadsTransport whose start() hands collectives to the helper thread. */
export class ProgressTransport implements Transport {
  readonly kind = 'threads' as const;
  readonly queuesInOrder = true;
  readonly rank: number;
  readonly worldSize: number;
  private readonly mb: Mailbox;
  private posted = 0;
  private outstanding: Pending[] = [];

  constructor(
    private readonly inner: ThreadsTransport,
    mailbox: SharedArrayBuffer,
    helper: Worker,
  ) {
    this.rank = inner.rank;
    this.worldSize = inner.worldSize;
    this.mb = mailboxOf(mailbox);
    helper.unref(); // idle helpers never keep a rank alive
  }

  checkBuffer(buf: CommBuffer, what: string): void {
    this.inner.checkBuffer(buf, what);
  }

  run(call: CollectiveCall): TransferStats {
    this.drain();
    return this.inner.run(call);
  }

  start(call: CollectiveCall): PendingTransfer {
    if (this.posted - QUEUE >= 0) this.waitFor(this.outstanding.find((p) => p.k === this.posted - QUEUE) ?? null);
    const k = this.posted++;
    const w = this.mb.words,
      e = entryAt(k);
    encodeDesc(call.desc, w, e);
    w[e + E_IN] = call.input ? call.input.byteOffset : 0;
    w[e + E_OUT] = call.output ? call.output.byteOffset : 0;
    w[e + E_TIMEOUT] = Math.min(call.timeoutMs, 0x7fffffff);
    this.mb.postedAt[k % QUEUE] = performance.timeOrigin + performance.now();
    Atomics.store(w, e + E_STATUS, 0);
    Atomics.store(w, POSTED, this.posted);
    Atomics.notify(w, POSTED);
    const p = new Pending(k, call.desc, call.timeoutMs, this);
    this.outstanding.push(p);
    return p;
  }

  close(): void {
    this.drain();
    Atomics.store(this.mb.words, STOP, 1);
    Atomics.notify(this.mb.words, POSTED);
    this.inner.close();
  }

  /** True when p is complete (collecting its result). */
  poll(p: Pending): boolean {
    if (p.stats || p.error) return true;
    const w = this.mb.words,
      e = entryAt(p.k);
    const st = Atomics.load(w, e + E_STATUS);
    if (st === 0) return false;
    if (st === 1) {
      p.stats = { bytesSent: this.mb.stats[(p.k % QUEUE) * 2]!, bytesReceived: this.mb.stats[(p.k % QUEUE) * 2 + 1]! };
    } else {
      const len = w[e + E_ERRLEN]!;
      const bytes = this.mb.errors.slice((p.k % QUEUE) * ERROR_BYTES, (p.k % QUEUE) * ERROR_BYTES + len);
      p.error = fromWire(JSON.parse(new TextDecoder().decode(bytes)) as WireError);
    }
    this.outstanding = this.outstanding.filter((q) => q !== p);
    return true;
  }

  waitFor(p: Pending | null): void {
    if (!p) return;
    // the helper enforces the collective's own timeout; this guard only catches a helper that died
    const deadline = performance.now() + p.timeoutMs + 10_000;
    const w = this.mb.words,
      at = entryAt(p.k) + E_STATUS;
    for (let spin = 20000; spin > 0 && Atomics.load(w, at) === 0; spin--);
    while (!this.poll(p)) {
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new CollectiveTimeoutError(
          `collective timeout: rank ${this.rank}'s progress thread did not finish ` +
            `${describe(p.desc)} (sequence number ${p.desc.seq}) within ${p.timeoutMs} ms + 10 s`,
          p.desc.op,
          this.rank,
          p.desc.seq,
        );
      }
      Atomics.wait(w, at, 0, Math.min(left, 250));
    }
  }

  /** Waits for every posted collective (their results stay with their Work objects). */
  private drain(): void {
    for (const p of [...this.outstanding]) this.waitFor(p);
  }
}

/**
 * Starts the helper thread of a rank; resolves once it runs (helper.ts says so), so that the group it serves is
 * complete when initProcessGroup returns: a helper still loading under a loaded machine would start the first
 * collectives late (their peers then wait for it, or give up on it).
 */
export function startHelper(data: HelperData): Promise<Worker> {
  const helper = new Worker(new URL('./helper.js', import.meta.url), { workerData: data });
  return new Promise((resolve, reject) => {
    const failed = (why: string) => {
      helper.off('message', up);
      reject(new StateError(`rank ${data.rank}: its progress thread did not start: ${why}`));
    };
    const onError = (e: Error) => failed(e.message);
    const onExit = (code: number) => failed(`it exited with code ${code}`);
    const up = () => {
      helper.off('error', onError);
      helper.off('exit', onExit);
      resolve(helper);
    };
    helper.once('message', up);
    helper.once('error', onError);
    helper.once('exit', onExit);
  });
}

export function helperStopped(words: Int32Array): boolean {
  return Atomics.load(words, STOP) === 1;
}

export { POSTED };

export function decodeEntry(words: Int32Array, k: number): CollectiveDesc {
  return decodeDesc(words, entryAt(k));
}
