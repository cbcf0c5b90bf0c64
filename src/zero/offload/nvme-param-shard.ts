// offload_param "nvme" (ZeRO-Infinity): a stage-3 rank's 16-bit (or fp32) parameter shard lives in one swap file
// under nvme_path. Between uses no host memory holds it. It is opened (the whole shard read into one host
// allocation) when a writer or reader asks for a typed view (initialisation, the offloaded step's copy-back, a
// checkpoint), and closed (written back, freed) by flush(): after the step (gatherUpdated) and before any gather.
// A gather reads only its group's chunk from the file, straight into the device's gather buffer.
// [Note: nvme parameter shards, not overlapped] in docs/design-notes.md says what is not overlapped yet.
// Swap files are scratch (the checkpoint is the durable state): created here, removed at dispose.
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { OffloadError, ShapeError, StateError } from '../../errors.js';
import type { CommBuffer } from '../../comm/types.js';
import type { HostAllocation, HostMemory } from '../../tensor/host.js';
import { ELEMENT_BYTES, type FlatDType } from '../flat-buffer.js';
import type { ShardStorage } from '../host-flat.js';
import { makeSwapDir, removeSwapDir } from './nvme-path.js';
import { hostExhausted } from './sub-group-store.js';
import { SwapIO } from './swap-io.js';

export class NvmeParamShard implements ShardStorage {
  readonly dir: string;
  private readonly path: string;
  private readonly fd: number;
  private readonly io = new SwapIO(1);
  private open: HostAllocation | null = null;
  private written = false;
  private disposed = false;

  constructor(
    private readonly host: HostMemory,
    readonly numel: number,
    readonly dtype: FlatDType,
    swapPath: string,
    rank: number,
  ) {
    this.dir = makeSwapDir(swapPath, rank);
    this.path = join(this.dir, 'parameters-shard.swp');
    try {
      this.fd = openSync(this.path, 'w+');
    } catch (e) {
      this.io.close();
      removeSwapDir(this.dir);
      throw new OffloadError(`cannot create swap file ${this.path}: ${(e as Error).message}`, this.path);
    }
  }

  get bytes(): number {
    return this.numel * ELEMENT_BYTES[this.dtype];
  }

  /** Host bytes held now: the whole shard while open, else none. */
  get hostBytes(): number {
    return this.open?.bytes ?? 0;
  }

  /** Bytes of the swap file. */
  get diskBytes(): number {
    return this.bytes;
  }

  get ioBytes(): { read: number; written: number } {
    return { read: this.io.bytesRead, written: this.io.bytesWritten };
  }

  comm(offset = 0, length = this.numel - offset): CommBuffer {
    this.check(offset, length);
    const a = this.opened();
    return this.dtype === 'f32'
      ? this.host.f32(a, this.numel).subarray(offset, offset + length)
      : this.host.u16(a, this.numel).subarray(offset, offset + length);
  }

  at(): number {
    throw new StateError(`parameter shard in ${this.path} has no device address`);
  }

  /** Elements [offset, offset + dst.length) into dst (a gather's own chunk): from the file, through a host stage. */
  readInto(offset: number, dst: CommBuffer): void {
    this.check(offset, dst.length);
    this.flush();
    if (dst.length === 0) return;
    const eb = ELEMENT_BYTES[this.dtype];
    const bytes = dst.length * eb;
    if (!this.written) {
      new Uint8Array(dst.buffer, dst.byteOffset, bytes).fill(0);
      return;
    }
    // a stage per read, freed at once: between gathers no host memory holds any of the shard
    const stage = this.alloc(bytes, 'parameter shard read stage');
    try {
      const view = this.host.u8(stage, bytes);
      this.io.wait(this.io.submit('read', this.fd, this.path, view, offset * eb));
      new Uint8Array(dst.buffer, dst.byteOffset, bytes).set(view);
    } finally {
      this.host.free(stage);
    }
  }

  /** Writes the open shard back to its file and frees the host copy (a no-op when closed). */
  flush(): void {
    if (this.open === null) return;
    const a = this.open;
    try {
      this.io.wait(this.io.submit('write', this.fd, this.path, this.host.u8(a, this.bytes), 0));
      this.written = true;
    } finally {
      this.open = null;
      this.host.free(a);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.io.close();
    if (this.open !== null) this.host.free(this.open);
    this.open = null;
    closeSync(this.fd);
    removeSwapDir(this.dir);
  }

  private opened(): HostAllocation {
    if (this.disposed) throw new StateError(`parameter shard in ${this.path} was disposed`);
    if (this.open !== null) return this.open;
    const a = this.alloc(this.bytes, 'parameters (own shard, read from nvme)');
    const view = this.host.u8(a, this.bytes);
    try {
      if (this.written) this.io.wait(this.io.submit('read', this.fd, this.path, view, 0));
      else view.fill(0);
    } catch (e) {
      this.host.free(a);
      throw e;
    }
    this.open = a;
    return a;
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
        'Use more ranks or more host memory (the nvme parameter shard is read whole for the step).',
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
