// Host memory for offload (the CPU RAM of ZeRO-Offload): a set of arenas, each one shared WebAssembly.Memory of a
// fixed size with its own free-list allocator, and one accounting across all of them (per category, with peaks),
// so offloaded optimizer state is counted exactly like device memory.
//
// Why wasm memories and not plain ArrayBuffers: the optimizer step for offloaded state runs on the host (DeepSpeed's
// CPUAdam); with each arena a WebAssembly.Memory, the same SIMD kernels run on it (`kernelsOf(a)`), and worker
// threads can share it. Like a device memory, every arena keeps its first 64 KiB for the modules' static data.
// A request larger than an arena gets a dedicated arena of its own size; a total past capacityBytes throws
// DeviceOutOfMemoryError.
import type { KernelChoice } from '../kernels/types.js';
import { ConfigError, DeviceOutOfMemoryError, StateError } from '../errors.js';
import { createKernels, kernelScratchBytes } from '../kernels/index.js';
import type { Kernels } from '../kernels/types.js';
import { wasmApi } from '../kernels/wasm-api.js';
import type { WasmMemory } from '../kernels/wasm-api.js';
import { FreeListAllocator, MEMORY_CATEGORIES, alignUp, formatBytes } from './allocator.js';
import type { Allocation, MemoryCategory, MemoryStats } from './allocator.js';
import { RESERVED_BYTES, WASM_PAGE_BYTES, MAX_DEVICE_BYTES } from './device.js';

export interface HostAllocation extends Allocation {
  /** Index of the arena that holds it; `ptr` is a byte offset in that arena's memory. */
  readonly arena: number;
}

/** One arena seen as a memory with kernels (see HostMemory.arenaView). */
export interface HostArenaView {
  readonly memory: WasmMemory;
  readonly kernels: Kernels;
  f32(ptr: number, length: number): Float32Array;
  u16(ptr: number, length: number): Uint16Array;
}

export interface HostMemoryOptions {
  /** Size of each arena in bytes (default 256 MiB; at most 4 GiB, the wasm32 limit). */
  arenaBytes?: number;
  /** Total bytes of all arenas together (default: unbounded, i.e. the OS decides). */
  capacityBytes?: number;
  kernels?: KernelChoice;
  name?: string;
}

interface Arena {
  readonly memory: WasmMemory;
  readonly buffer: ArrayBufferLike;
  readonly allocator: FreeListAllocator;
  readonly scratch: Allocation;
  kernels: Kernels | null;
}

export class HostMemory {
  readonly arenaBytes: number;
  readonly capacityBytes: number;
  readonly name: string;
  private readonly backend: KernelChoice;
  private readonly arenas: Arena[] = [];
  private readonly byCategory: Record<MemoryCategory, { inUse: number; peak: number }>;
  private inUse = 0;
  private peak = 0;

  constructor(opts: HostMemoryOptions = {}) {
    this.name = opts.name ?? 'host';
    this.arenaBytes = alignUp(opts.arenaBytes ?? 256 * 2 ** 20, WASM_PAGE_BYTES);
    this.capacityBytes = opts.capacityBytes ?? Number.MAX_SAFE_INTEGER;
    this.backend = opts.kernels ?? 'wasm';
    const min = RESERVED_BYTES + kernelScratchBytes() + WASM_PAGE_BYTES;
    if (!Number.isSafeInteger(this.arenaBytes) || this.arenaBytes < min || this.arenaBytes > MAX_DEVICE_BYTES) {
      throw new ConfigError(
        `${this.name}: arenaBytes = ${String(opts.arenaBytes)} is not allowed; use ${min} to ${MAX_DEVICE_BYTES} bytes`,
        'arenaBytes',
      );
    }
    if (!(this.capacityBytes > 0)) {
      throw new ConfigError(
        `${this.name}: capacityBytes = ${String(opts.capacityBytes)} is not allowed; use a positive number of bytes`,
        'capacityBytes',
      );
    }
    this.byCategory = Object.fromEntries(MEMORY_CATEGORIES.map((c) => [c, { inUse: 0, peak: 0 }])) as Record<
      MemoryCategory,
      { inUse: number; peak: number }
    >;
  }

  /** Bytes held by all arenas (what the process really reserved). */
  get arenaTotalBytes(): number {
    let t = 0;
    for (const a of this.arenas) t += a.memory.buffer.byteLength;
    return t;
  }

  get arenaCount(): number {
    return this.arenas.length;
  }

  alloc(bytes: number, category: MemoryCategory, label?: string): HostAllocation {
    for (let i = 0; i < this.arenas.length; i++) {
      const ar = this.arenas[i]!;
      if (ar.allocator.largestFreeBlock >= Math.max(64, alignUp(bytes)))
        return this.record(i, ar.allocator.alloc(bytes, category, label));
    }
    const need = RESERVED_BYTES + alignUp(kernelScratchBytes()) + alignUp(Math.max(bytes, 64));
    const size = Math.max(this.arenaBytes, alignUp(need, WASM_PAGE_BYTES));
    if (size > MAX_DEVICE_BYTES || this.arenaTotalBytes + size > this.capacityBytes) {
      const parts = MEMORY_CATEGORIES.filter((c) => this.byCategory[c].inUse > 0).map(
        (c) => `${c} ${formatBytes(this.byCategory[c].inUse)}`,
      );
      const why =
        size > MAX_DEVICE_BYTES
          ? `one host allocation can be at most ${formatBytes(MAX_DEVICE_BYTES - need + bytes)} (a 4 GiB arena)`
          : `${this.arenas.length} arenas hold ${formatBytes(this.arenaTotalBytes)} and another ` +
            `${formatBytes(size)} would pass the capacity`;
      const cap =
        this.capacityBytes === Number.MAX_SAFE_INTEGER
          ? 'capacity unbounded'
          : `capacity ${formatBytes(this.capacityBytes)}`;
      throw new DeviceOutOfMemoryError(
        `${this.name}: out of host memory allocating ${formatBytes(bytes)} (${bytes} B) for ${category}${label ? ` "${label}"` : ''}; ` +
          `${cap}, in use ${formatBytes(this.inUse)}: ${parts.join(', ') || 'nothing'}; ${why}`,
        bytes,
        this.capacityBytes,
        Object.fromEntries(MEMORY_CATEGORIES.map((c) => [c, this.byCategory[c].inUse])),
      );
    }
    const memory = new wasmApi.Memory({
      initial: size / WASM_PAGE_BYTES,
      maximum: size / WASM_PAGE_BYTES,
      shared: true,
    });
    const allocator = new FreeListAllocator(RESERVED_BYTES, size, `${this.name} arena ${this.arenas.length}`);
    const scratch = allocator.alloc(kernelScratchBytes(), 'workspace', 'kernel scratch');
    this.arenas.push({ memory, buffer: memory.buffer, allocator, scratch, kernels: null });
    return this.record(this.arenas.length - 1, allocator.alloc(bytes, category, label));
  }

  /**
   * Several allocations in ONE arena (so one wasm instance can run kernels over all of them, e.g. an offloaded
   * sub-group's state and its threads' workspace), each accounted under its own category. All or none.
   */
  allocGroup(parts: readonly { bytes: number; category: MemoryCategory; label?: string }[]): HostAllocation[] {
    const sizes = parts.map((p) => Math.max(64, alignUp(p.bytes)));
    const sum = sizes.reduce((a, x) => a + x, 0);
    let i = this.arenas.findIndex((ar) => ar.allocator.largestFreeBlock >= sum);
    if (i < 0) {
      // a fresh arena sized for the group (or the usual size); its own accounting is undone below
      const c = parts[0]?.category ?? 'other';
      const peaks = [this.peak, this.byCategory[c].peak];
      const probe = this.alloc(sum, c, parts.map((p) => p.label ?? p.category).join(' + '));
      i = probe.arena;
      this.free(probe);
      [this.peak, this.byCategory[c].peak] = peaks as [number, number];
    }
    const ar = this.arenas[i]!;
    return parts.map((p) => this.record(i, ar.allocator.alloc(p.bytes, p.category, p.label)));
  }

  /** Throws StateError on a double free or an allocation this host memory did not hand out. */
  free(a: HostAllocation): void {
    const own = this.owned.get(a);
    const ar = this.arenas[a.arena];
    if (own === undefined || ar === undefined) {
      throw new StateError(
        `${this.name}: cannot free ${a.bytes} bytes at arena ${a.arena} offset ${a.ptr}: not a live allocation of ` +
          `this host memory (double free, or it belongs to another allocator)`,
      );
    }
    this.owned.delete(a);
    ar.allocator.free(own);
    this.byCategory[a.category].inUse -= a.bytes;
    this.inUse -= a.bytes;
  }

  // The arena allocator's own Allocation for each HostAllocation handed out (identity check on free).
  private readonly owned = new Map<HostAllocation, Allocation>();

  private record(arena: number, inner: Allocation): HostAllocation {
    const a: HostAllocation = { ...inner, arena };
    this.owned.set(a, inner);
    const c = this.byCategory[inner.category];
    c.inUse += inner.bytes;
    if (c.inUse > c.peak) c.peak = c.inUse;
    this.inUse += inner.bytes;
    if (this.inUse > this.peak) this.peak = this.inUse;
    return a;
  }

  /** Requested bytes in use per category (kernel workspaces of arenas are not counted). */
  memoryStats(): MemoryStats {
    const byCategory = Object.fromEntries(
      MEMORY_CATEGORIES.map((c) => [c, { ...this.byCategory[c] }]),
    ) as MemoryStats['byCategory'];
    return { capacityBytes: this.capacityBytes, inUseBytes: this.inUse, peakBytes: this.peak, byCategory };
  }

  resetPeak(): void {
    this.peak = this.inUse;
    for (const c of MEMORY_CATEGORIES) this.byCategory[c].peak = this.byCategory[c].inUse;
  }

  memoryOf(a: HostAllocation): WasmMemory {
    return this.arena(a).memory;
  }

  /** Kernels instantiated on the arena that holds `a` (pointers are `a.ptr` and offsets from it). */
  kernelsOf(a: HostAllocation): Kernels {
    const ar = this.arena(a);
    ar.kernels ??= createKernels({ memory: ar.memory, scratch: ar.scratch.ptr, backend: this.backend });
    return ar.kernels;
  }

  /**
   * The arena holding `a` as a memory with kernels: pointers are byte offsets in it (a.ptr and beyond), so an
   * optimizer shard laid out inside one host allocation can be stepped there (it satisfies optim's ShardMemory).
   */
  arenaView(a: HostAllocation): HostArenaView {
    const ar = this.arena(a);
    const kernels = this.kernelsOf(a);
    const buffer = ar.buffer;
    return {
      memory: ar.memory,
      kernels,
      f32: (ptr, length) => new Float32Array(buffer, ptr, length),
      u16: (ptr, length) => new Uint16Array(buffer, ptr, length),
    };
  }

  /** A view of the whole allocation (or `length` elements) as f32. */
  f32(a: HostAllocation, length: number = Math.floor(a.bytes / 4)): Float32Array {
    this.checkLength(a, length, 4);
    return new Float32Array(this.arena(a).buffer, a.ptr, length);
  }

  u16(a: HostAllocation, length: number = Math.floor(a.bytes / 2)): Uint16Array {
    this.checkLength(a, length, 2);
    return new Uint16Array(this.arena(a).buffer, a.ptr, length);
  }

  u8(a: HostAllocation, length: number = a.bytes): Uint8Array {
    this.checkLength(a, length, 1);
    return new Uint8Array(this.arena(a).buffer, a.ptr, length);
  }

  /** Drops arenas that hold nothing but their kernel workspace (returns how many were dropped). */
  trim(): number {
    // Only trailing arenas can go, so arena indices of live allocations stay valid.
    let n = 0;
    while (this.arenas.length > 0 && this.arenas[this.arenas.length - 1]!.allocator.liveCount === 1) {
      this.arenas.pop();
      n++;
    }
    return n;
  }

  private arena(a: HostAllocation): Arena {
    const ar = this.arenas[a.arena];
    if (ar === undefined || !this.owned.has(a)) {
      throw new StateError(
        `${this.name}: arena ${a.arena} offset ${a.ptr} is not a live allocation of this host memory`,
      );
    }
    return ar;
  }

  private checkLength(a: HostAllocation, length: number, size: number): void {
    if (!Number.isInteger(length) || length < 0 || length * size > a.bytes) {
      throw new RangeError(
        `${this.name}: view of ${length} elements of ${size} bytes does not fit the allocation of ${a.bytes} bytes`,
      );
    }
  }
}
