// The host buffers an nvme parameter shard (nvme-param-shard.ts) streams through: at most offload_param.buffer_count
// windows, each a range of the swap file in one host allocation. A window is opened (read from the file, or not
// when the caller overwrites all of it), used through typed views, and closed: its write back is submitted and runs
// on SwapIO's worker while the caller goes on (the next sub-group's step, the next checkpoint bucket); its buffer is
// taken back only when a later window needs it (or at drain()). Pooled windows (the step's pieces) are all
// `elements` long and reused; a window for a longer range (a whole bucket at initialisation or in a checkpoint) has
// an allocation of its own, counted against the same buffer_count. The jobs go through OrderedIO: a read submitted
// after a write of the same bytes sees them, whatever aio.thread_count. [Note: nvme parameter shards, overlapped].
import { StateError } from '../../errors.js';
import type { HostAllocation, HostMemory } from '../../tensor/host.js';
import type { SwapQueue } from './ordered-io.js';
import type { Ticket } from './swap-io.js';

export interface Window {
  /** first element (shard coordinates) and length */
  readonly offset: number;
  readonly length: number;
  readonly alloc: HostAllocation;
  readonly pooled: boolean;
}

export interface WindowFile {
  readonly fd: number;
  readonly path: string;
  /** bytes per element */
  readonly eb: number;
  /** byte position in the file of shard element `offset` */
  position(offset: number): number;
}

export class ParamWindows {
  private readonly free: HostAllocation[] = [];
  private readonly writing: { w: Window; t: Ticket; opensSince: number }[] = [];
  private pooled = 0;
  private own = 0;
  private opens = 0;
  /** host bytes held by windows now (open, writing, or pooled and free) */
  heldBytes = 0;
  /** writes submitted; of them, the ones still queued when a later window was opened (overlapped by construction) */
  writes = 0;
  writesOverlapped = 0;

  constructor(
    private readonly host: HostMemory,
    private readonly io: SwapQueue,
    private readonly file: WindowFile,
    /** buffer_count */
    readonly count: number,
    /** buffer_size (elements of a pooled window) */
    readonly elements: number,
    private readonly alloc: (bytes: number, label: string) => HostAllocation,
  ) {
    if (!(count >= 1 && elements >= 1)) throw new StateError(`parameter windows: ${count} of ${elements} elements`);
  }

  /** Opens [offset, offset + length): read from the file unless `overwrite`. */
  open(offset: number, length: number, overwrite: boolean): Window {
    this.opens++;
    const pooled = length <= this.elements;
    const alloc = pooled ? this.takePooled() : this.takeOwn(length);
    const w: Window = { offset, length, alloc, pooled };
    if (!overwrite) this.io.wait(this.io.submit('read', this.file.fd, this.file.path, this.bytes(w), this.pos(w)));
    return w;
  }

  /** Submits w's write back (asynchronous); its buffer returns to the pool when a later open needs it. */
  close(w: Window): void {
    const t = this.io.submit('write', this.file.fd, this.file.path, this.bytes(w), this.pos(w));
    this.writing.push({ w, t, opensSince: this.opens });
    this.writes++;
  }

  /** Gives up w without writing it (it was only read). */
  discard(w: Window): void {
    this.give(w);
  }

  /** Waits for every write and frees every buffer: no host memory is held after. */
  drain(): void {
    let first: unknown = null;
    while (this.writing.length > 0)
      try {
        this.retire();
      } catch (e) {
        first ??= e;
      }
    for (const a of this.free.splice(0)) this.release(a);
    this.pooled = 0;
    if (first !== null) throw first;
  }

  /** At dispose: frees what is held (the writes were drained or have failed). */
  dispose(): void {
    for (const x of this.writing.splice(0)) this.release(x.w.alloc);
    for (const a of this.free.splice(0)) this.release(a);
    this.pooled = 0;
    this.own = 0;
  }

  view(w: Window): Uint8Array {
    return this.bytes(w);
  }

  private bytes(w: Window): Uint8Array {
    return this.host.u8(w.alloc, w.length * this.file.eb);
  }

  private pos(w: Window): number {
    return this.file.position(w.offset);
  }

  private takePooled(): HostAllocation {
    for (;;) {
      const a = this.free.pop();
      if (a !== undefined) return a;
      if (this.pooled + this.own < this.count) {
        this.pooled++;
        return this.hold(this.alloc(this.elements * this.file.eb, 'parameter shard window (nvme)'));
      }
      this.retireOrThrow();
    }
  }

  private takeOwn(length: number): HostAllocation {
    // an own allocation counts against buffer_count: retire writes (and drop free pooled buffers) to make room
    while (this.pooled + this.own >= this.count) {
      const a = this.free.pop();
      if (a !== undefined) {
        this.release(a);
        this.pooled--;
      } else this.retireOrThrow();
    }
    this.own++;
    return this.hold(this.alloc(length * this.file.eb, 'parameter shard range (nvme)'));
  }

  private retireOrThrow(): void {
    if (this.writing.length === 0)
      throw new StateError(`all ${this.count} parameter windows are open (offload_param.buffer_count)`);
    this.retire();
  }

  /** Waits for the oldest write and takes its buffer back. */
  private retire(): void {
    const x = this.writing.shift()!;
    if (this.opens > x.opensSince) this.writesOverlapped++;
    try {
      this.io.wait(x.t);
    } finally {
      this.give(x.w);
    }
  }

  private give(w: Window): void {
    if (w.pooled) this.free.push(w.alloc);
    else {
      this.release(w.alloc);
      this.own--;
    }
  }

  private hold(a: HostAllocation): HostAllocation {
    this.heldBytes += a.bytes;
    return a;
  }

  private release(a: HostAllocation): void {
    this.heldBytes -= a.bytes;
    this.host.free(a);
  }
}
