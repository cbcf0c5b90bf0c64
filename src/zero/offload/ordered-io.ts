// SwapIO for one swap file whose jobs may touch the same bytes (the nvme parameter shard: a window's write back, a
// later window's read of the same range, a gather's read). With one worker, submission order is completion order.
// With more (aio.thread_count), a job that overlaps an unfinished one (not two reads) is queued behind it on its
// worker (SwapIO's `after`); when it overlaps several, all but the newest are waited for first. So any thread count
// keeps "a read submitted after a write of the same bytes sees them", and disjoint jobs run in parallel.
import type { SwapIO, Ticket } from './swap-io.js';

/** What a swap file's users submit to (SwapIO, or OrderedIO over one). */
export type SwapQueue = Pick<SwapIO, 'submit' | 'wait'>;

export class OrderedIO implements SwapQueue {
  private inflight: { from: number; to: number; t: Ticket }[] = [];
  /** jobs that overlapped an unfinished one and were ordered behind it */
  ordered = 0;

  constructor(readonly io: SwapIO) {}

  submit(op: 'read' | 'write', fd: number, path: string, view: Uint8Array, position: number): Ticket {
    const from = position;
    const to = position + view.byteLength;
    this.inflight = this.inflight.filter((x) => !this.io.done(x.t));
    const clash = this.inflight.filter((x) => x.from < to && from < x.to && (op === 'write' || x.t.op === 'write'));
    for (const x of clash.slice(0, -1)) this.io.wait(x.t);
    if (clash.length > 0) this.ordered++;
    const t = this.io.submit(op, fd, path, view, position, clash.at(-1)?.t ?? null);
    this.inflight.push({ from, to, t });
    return t;
  }

  wait(t: Ticket): void {
    this.io.wait(t);
  }
}
