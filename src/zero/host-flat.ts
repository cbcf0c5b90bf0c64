// A flat buffer in host memory (offload_param "cpu": stage-3 parameter shards kept off the device). It offers the
// typed-array side of FlatBuffer only: host views are never handed to collectives or device kernels; the fetcher
// copies a shard's chunk into a device buffer before gathering it, and the (offloaded) optimizer writes it back.
import { ShapeError, StateError } from '../errors.js';
import type { CommBuffer } from '../comm/types.js';
import type { HostAllocation, HostMemory } from '../tensor/host.js';
import type { MemoryCategory } from '../tensor/device.js';
import { ELEMENT_BYTES, type FlatDType } from './flat-buffer.js';

/** What parameter stores and the optimizer state read and write: typed views by element range. */
export interface FlatStorage {
  readonly numel: number;
  readonly dtype: FlatDType;
  comm(offset?: number, length?: number): CommBuffer;
  /** Byte address in device memory; host storage throws (it has none). */
  at(offset: number): number;
  /**
   * Streamed storage (offload_param nvme): the most elements one openRange holds. Absent: always addressable, and
   * openRange/closeRanges are not needed. Present: a comm() view outside an open range is valid until the next call.
   */
  readonly windowElements?: number;
  /** [offset, offset + length) addressable through comm() until closeRanges(); `overwrite`: every element is written. */
  openRange?(offset: number, length: number, overwrite: boolean): void;
  /** The open ranges' writes go back to storage (asynchronously: flush() waits for them). */
  closeRanges?(): void;
  /**
   * comm() for a caller that only reads the view (a checkpoint save, the master's first copy): streamed storage
   * need not write it back. Absent: comm(). Writing into it is a bug (the bytes may be dropped); use readView().
   */
  commReadOnly?(offset: number, length: number): CommBuffer;
}

/** A view of [offset, offset + length) the caller only reads (commReadOnly where the storage has it). */
export function readView(buf: FlatStorage, offset: number, length: number): CommBuffer {
  return buf.commReadOnly !== undefined ? buf.commReadOnly(offset, length) : buf.comm(offset, length);
}

/** A read in flight (ShardStorage.readAsync): its bytes are in place when wait() returns. */
export interface PendingRead {
  wait(): void;
}

/**
 * Where a stage-3 rank's parameter shard lives (the placement the policy picks once, make-param-shard.ts): device
 * (FlatBuffer), host memory (HostFlat) or a swap file (NvmeParamShard). readInto, readAsync and flush are for
 * storage that is not always addressable: a gather reads its chunk with readInto (readAsync when prefetched), and
 * flush ends a phase of writes.
 */
export interface ShardStorage extends FlatStorage {
  /** Elements [offset, offset + dst.length) copied into dst; absent: dst.set(comm(offset, dst.length)). */
  readInto?(offset: number, dst: CommBuffer): void;
  /** readInto started asynchronously (a prefetched gather's chunk); absent: readInto at once. */
  readAsync?(offset: number, dst: CommBuffer): PendingRead;
  /** The writes since the last flush are kept; host memory held for them is given back. */
  flush?(): void;
  dispose(): void;
}

export class HostFlat implements ShardStorage {
  private alloc: HostAllocation | null;

  constructor(
    private readonly host: HostMemory,
    readonly numel: number,
    readonly dtype: FlatDType,
    category: MemoryCategory,
    readonly label: string,
  ) {
    this.alloc = host.alloc(Math.max(4, numel * ELEMENT_BYTES[dtype]), category, label);
    host.u8(this.alloc).fill(0);
  }

  comm(offset = 0, length = this.numel - offset): CommBuffer {
    if (this.alloc === null) throw new StateError(`host buffer ${this.label} was disposed`);
    if (!(offset >= 0 && length >= 0 && offset + length <= this.numel))
      throw new ShapeError(
        `host buffer ${this.label}: range [${offset}, ${offset + length}) outside [0, ${this.numel})`,
      );
    return hostView(this.host, this.alloc, this.dtype, this.numel, offset, length);
  }

  /** Host bytes held (the shard, for offload accounting). */
  get hostBytes(): number {
    return this.alloc?.bytes ?? 0;
  }

  at(): number {
    throw new StateError(`host buffer ${this.label} has no device address`);
  }

  dispose(): void {
    if (this.alloc !== null) this.host.free(this.alloc);
    this.alloc = null;
  }
}

/** Elements [offset, offset + length) of a host allocation holding `numel` elements of `dtype`, as a typed view. */
export function hostView(
  host: HostMemory,
  a: HostAllocation,
  dtype: FlatDType,
  numel: number,
  offset: number,
  length: number,
): CommBuffer {
  return dtype === 'f32'
    ? host.f32(a, numel).subarray(offset, offset + length)
    : host.u16(a, numel).subarray(offset, offset + length);
}
