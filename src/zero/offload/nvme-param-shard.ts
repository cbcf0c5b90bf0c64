// offload_param "nvme" (ZeRO-Infinity): a stage-3 rank's 16-bit (or fp32) parameter shard lives in one swap file
// under nvme_path, except its first `resident` elements (offload_param.max_in_cpu, rounded down to a bucket
// boundary), which stay in one host allocation. The file part is never opened whole: the offloaded step writes each
// piece of a sub-group through a window (openRange/closeRanges: at most buffer_count host buffers of buffer_size
// elements, written back asynchronously while the next piece steps, param-windows.ts); any other typed view
// (initialisation, a checkpoint, writeParamsFromMaster) opens a window for just its range, kept until the next call,
// and written back only when comm() handed it out (commReadOnly's views, a checkpoint save's, are not).
// A gather reads its group's own chunk from the file straight into the device's gather buffer, asynchronously when
// prefetched (readAsync). [Note: nvme parameter shards, overlapped] in docs/design-notes.md.
// Swap files are scratch (the checkpoint is the durable state): created here, removed at dispose.
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { OffloadError, ShapeError, StateError } from '../../errors.js';
import type { CommBuffer } from '../../comm/types.js';
import type { HostAllocation, HostMemory } from '../../tensor/host.js';
import { ELEMENT_BYTES, type FlatDType } from '../flat-buffer.js';
import { hostView, type PendingRead, type ShardStorage } from '../host-flat.js';
import { makeSwapDir, removeSwapDir } from './nvme-path.js';
import { ParamWindows, type Window } from './param-windows.js';
import { hostExhausted } from './sub-group-store.js';
import { OrderedIO } from './ordered-io.js';
import { SwapIO } from './swap-io.js';

export interface NvmeParamOptions {
  /** buffer_count: host buffers the step's copy-back streams through */
  bufferCount: number;
  /** buffer_size: elements of each */
  bufferElements: number;
  /** elements [0, resident) stay in host memory (max_in_cpu, on a bucket boundary) */
  resident: number;
  /** aio.thread_count (default 1) and aio.block_size (default: node:fs's limit) */
  ioThreads?: number;
  blockBytes?: number | null;
}

export class NvmeParamShard implements ShardStorage {
  readonly dir: string;
  readonly resident: number;
  /** elements of one window; undefined when max_in_cpu keeps the whole shard (nothing streams) */
  readonly windowElements: number | undefined;
  private readonly path: string;
  private readonly fd: number;
  private readonly eb: number;
  private readonly io: SwapIO;
  /** the shard's jobs, ordered where they touch the same bytes (any aio.thread_count) */
  private readonly queue: OrderedIO;
  private readonly windows: ParamWindows;
  private readonly kept: HostAllocation | null = null;
  /** the step's windows (openRange), and the one window of a plain comm() */
  private opened: Window[] = [];
  private plain: Window | null = null;
  /** the plain window was handed out by comm() (written to): it goes back to the file when closed */
  private plainDirty = false;
  private disposed = false;
  /** gather reads: submitted, and of them the asynchronous ones (a prefetch: waited at a later call) */
  reads = 0;
  readsAsync = 0;

  constructor(
    private readonly host: HostMemory,
    readonly numel: number,
    readonly dtype: FlatDType,
    swapPath: string,
    rank: number,
    o: NvmeParamOptions,
  ) {
    this.eb = ELEMENT_BYTES[dtype];
    this.io = new SwapIO(o.ioThreads ?? 1, o.blockBytes ?? null);
    this.queue = new OrderedIO(this.io);
    this.resident = Math.min(numel, Math.max(0, o.resident));
    this.windowElements = numel > this.resident ? Math.min(o.bufferElements, numel - this.resident) : undefined;
    this.dir = makeSwapDir(swapPath, rank);
    this.path = join(this.dir, 'parameters-shard.swp');
    try {
      this.fd = openSync(this.path, 'w+');
      ftruncateSync(this.fd, this.diskBytes); // reads before the first write see zeros
    } catch (e) {
      this.io.close();
      removeSwapDir(this.dir);
      throw new OffloadError(`cannot create swap file ${this.path}: ${(e as Error).message}`, this.path);
    }
    const resident = this.resident;
    const file = { fd: this.fd, path: this.path, eb: this.eb, position: (off: number) => (off - resident) * this.eb };
    const alloc = (bytes: number, label: string) => this.alloc(bytes, label);
    this.windows = new ParamWindows(
      host,
      this.queue,
      file,
      windowCount(o.bufferCount, numel - resident, this.windowElements),
      this.windowElements ?? 1,
      alloc,
    );
    try {
      if (resident > 0) {
        this.kept = this.alloc(resident * this.eb, 'parameters (own shard, max_in_cpu part)');
        host.u8(this.kept, resident * this.eb).fill(0);
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  get bytes(): number {
    return this.numel * this.eb;
  }

  /** Host bytes held now: the max_in_cpu part, and the windows open or being written. */
  get hostBytes(): number {
    return (this.kept?.bytes ?? 0) + this.windows.heldBytes;
  }

  /** Bytes of the swap file (the shard past the max_in_cpu part). */
  get diskBytes(): number {
    return (this.numel - this.resident) * this.eb;
  }

  get ioStats(): {
    read: number;
    written: number;
    reads: number;
    readsAsync: number;
    writes: number;
    writesOverlapped: number;
  } {
    const { writes, writesOverlapped } = this.windows;
    return {
      read: this.io.bytesRead,
      written: this.io.bytesWritten,
      reads: this.reads,
      readsAsync: this.readsAsync,
      writes,
      writesOverlapped,
    };
  }

  comm(offset = 0, length = this.numel - offset): CommBuffer {
    return this.view(offset, length, true);
  }

  /** comm() for a caller that only reads: a plain window only read is given up, not written back. */
  commReadOnly(offset: number, length: number): CommBuffer {
    return this.view(offset, length, false);
  }

  private view(offset: number, length: number, writes: boolean): CommBuffer {
    this.check(offset, length);
    if (offset + length <= this.resident) return this.typed(this.kept!, offset, length);
    if (offset < this.resident)
      throw new ShapeError(
        `parameter shard ${this.path}: range [${offset}, ${offset + length}) crosses the max_in_cpu part's end ${this.resident}`,
      );
    const w =
      this.opened.find((x) => x.offset <= offset && offset + length <= x.offset + x.length) ??
      (this.plain !== null && this.plain.offset <= offset && offset + length <= this.plain.offset + this.plain.length
        ? this.plain
        : this.openPlain(offset, length));
    if (w === this.plain && writes) this.plainDirty = true;
    return this.typed(w.alloc, offset - w.offset, length);
  }

  at(): number {
    throw new StateError(`parameter shard in ${this.path} has no device address`);
  }

  /** [offset, offset + length)'s file part in one window until closeRanges(); `overwrite`: not read first. */
  openRange(offset: number, length: number, overwrite: boolean): void {
    this.check(offset, length);
    this.live();
    const from = Math.max(offset, this.resident);
    if (from >= offset + length) return;
    if (offset + length - from > (this.windowElements ?? 0))
      throw new StateError(
        `parameter shard ${this.path}: a window of ${length} elements (at most ${this.windowElements})`,
      );
    this.closePlain();
    this.opened.push(this.windows.open(from, offset + length - from, overwrite));
  }

  /** The open ranges' write backs are submitted; they run while the caller goes on. */
  closeRanges(): void {
    for (const w of this.opened.splice(0)) this.windows.close(w);
  }

  /** Elements [offset, offset + dst.length) into dst (a gather's own chunk). */
  readInto(offset: number, dst: CommBuffer): void {
    this.read(offset, dst).wait();
  }

  /** Starts reading [offset, offset + dst.length) into dst (a prefetch); the bytes are there when wait() returns. */
  readAsync(offset: number, dst: CommBuffer): PendingRead {
    this.readsAsync++;
    return this.read(offset, dst);
  }

  private read(offset: number, dst: CommBuffer): PendingRead {
    this.check(offset, dst.length);
    this.flush();
    const bytes = dst.length * this.eb;
    const out = new Uint8Array(dst.buffer, dst.byteOffset, bytes);
    this.reads++;
    // the max_in_cpu part is copied now; the rest is read from the file
    const kept = Math.max(0, Math.min(dst.length, this.resident - offset)) * this.eb;
    if (kept > 0) out.set(this.host.u8(this.kept!).subarray(offset * this.eb, offset * this.eb + kept));
    if (kept === bytes) return { wait: () => {} };
    if (!(dst.buffer instanceof SharedArrayBuffer))
      throw new StateError(`parameter shard ${this.path}: a gather buffer outside shared memory`);
    // the device is shared memory the I/O worker can write: no host stage (GPUDirect Storage's path)
    const from = Math.max(offset, this.resident);
    const t = this.queue.submit('read', this.fd, this.path, out.subarray(kept), (from - this.resident) * this.eb);
    return { wait: () => this.io.wait(t) };
  }

  /** Writes back whatever is open, waits for every write, and frees the windows (the max_in_cpu part stays). */
  flush(): void {
    this.live();
    this.closeRanges();
    this.closePlain();
    this.windows.drain();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.io.close();
    this.opened = [];
    this.plain = null;
    this.windows.dispose();
    if (this.kept !== null) this.host.free(this.kept);
    closeSync(this.fd);
    removeSwapDir(this.dir);
  }

  private openPlain(offset: number, length: number): Window {
    this.live();
    this.closePlain();
    this.plain = this.windows.open(offset, length, false);
    return this.plain;
  }

  private closePlain(): void {
    if (this.plain !== null && this.plainDirty) this.windows.close(this.plain);
    else if (this.plain !== null) this.windows.discard(this.plain);
    this.plain = null;
    this.plainDirty = false;
  }

  private typed(a: HostAllocation, offset: number, length: number): CommBuffer {
    return hostView(this.host, a, this.dtype, Math.floor(a.bytes / this.eb), offset, length);
  }

  private live(): void {
    if (this.disposed) throw new StateError(`parameter shard in ${this.path} was disposed`);
  }

  private alloc(bytes: number, label: string): HostAllocation {
    try {
      return this.host.alloc(Math.max(4, bytes), 'param', label);
    } catch (e) {
      hostExhausted(
        e,
        label,
        bytes,
        this.host,
        'Use more ranks, more host memory, or a smaller offload_param.buffer_size, buffer_count or max_in_cpu.',
      );
    }
  }

  private check(offset: number, length: number): void {
    if (!(offset >= 0 && length >= 0 && offset + length <= this.numel))
      throw new ShapeError(
        `parameter shard ${this.path}: range [${offset}, ${offset + length}) outside [0, ${this.numel})`,
      );
  }
}

/** buffer_count, but no more windows than the file part needs: their bytes never pass the file's by a window. */
function windowCount(count: number, fileNumel: number, elements: number | undefined): number {
  return elements === undefined ? 1 : Math.max(1, Math.min(count, Math.ceil(fileNumel / elements)));
}
