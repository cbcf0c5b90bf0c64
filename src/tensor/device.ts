// A rank's "device": one shared WebAssembly.Memory of fixed capacity (initial = maximum pages, never grows), an
// allocator that accounts every byte by category, and the kernels instantiated on that memory.
// See [Note: one memory per rank] in docs/design-notes.md: the first 64 KiB hold the wasm modules' static data and
// are never handed out.
import { ConfigError } from '../errors.js';
import { createKernels, kernelScratchBytes } from '../kernels/index.js';
import type { KernelChoice, Kernels } from '../kernels/types.js';
import { wasmApi } from '../kernels/wasm-api.js';
import type { WasmMemory } from '../kernels/wasm-api.js';
import { FreeListAllocator, formatBytes } from './allocator.js';
import type { Allocation, MemoryCategory, MemoryStats } from './allocator.js';

export type { Allocation, CategoryStats, MemoryCategory, MemoryStats } from './allocator.js';
export { MEMORY_CATEGORIES } from './allocator.js';

export const WASM_PAGE_BYTES = 65536;
/** Bytes at the start of every device memory reserved for wasm modules' static data. */
export const RESERVED_BYTES = 65536;
/** wasm32 addresses 4 GiB at most. */
export const MAX_DEVICE_BYTES = 4 * 2 ** 30;
export const DEFAULT_DEVICE_BYTES = 2 ** 30;

export interface DeviceOptions {
  /** Device memory in bytes (rounded up to 64 KiB pages); default 1 GiB, at most 4 GiB. */
  capacityBytes?: number;
  /** Kernel backend: 'auto' (default: 'blas' when a native BLAS loads, else 'wasm'), 'blas', 'wasm' or 'js' (the oracle). */
  kernels?: KernelChoice;
  /** For messages, e.g. "rank1". */
  name?: string;
}

export class Device {
  readonly memory: WasmMemory;
  readonly capacityBytes: number;
  readonly kernels: Kernels;
  readonly name: string;
  /** The kernels' workspace (category 'workspace'), allocated for the device's lifetime. */
  readonly kernelScratch: Allocation;
  private readonly allocator: FreeListAllocator;
  // The memory never grows, so one buffer object serves every view.
  private readonly buffer: ArrayBufferLike;

  constructor(opts: DeviceOptions = {}) {
    const requested = opts.capacityBytes ?? DEFAULT_DEVICE_BYTES;
    this.name = opts.name ?? 'device';
    const minBytes = RESERVED_BYTES + kernelScratchBytes() + WASM_PAGE_BYTES;
    if (!Number.isSafeInteger(requested) || requested < minBytes || requested > MAX_DEVICE_BYTES) {
      throw new ConfigError(
        `${this.name}: capacityBytes = ${String(requested)} is not allowed; it must be an integer from ${minBytes} ` +
          `(reserved 64 KiB + kernel workspace + one page) to ${MAX_DEVICE_BYTES} (4 GiB, the wasm32 limit)`,
        'capacityBytes',
      );
    }
    const backend = opts.kernels ?? 'auto';
    if (backend !== 'wasm' && backend !== 'js' && backend !== 'blas' && backend !== 'auto') {
      throw new ConfigError(
        `${this.name}: kernels = ${JSON.stringify(backend)} is not allowed; use 'auto', 'blas', 'wasm' or 'js'`,
        'kernels',
      );
    }
    const pages = Math.ceil(requested / WASM_PAGE_BYTES);
    this.capacityBytes = pages * WASM_PAGE_BYTES;
    this.memory = new wasmApi.Memory({ initial: pages, maximum: pages, shared: true });
    this.buffer = this.memory.buffer;
    this.allocator = new FreeListAllocator(RESERVED_BYTES, this.capacityBytes, `device "${this.name}"`);
    this.kernelScratch = this.allocator.alloc(kernelScratchBytes(), 'workspace', 'kernel scratch');
    this.kernels = createKernels({ memory: this.memory, scratch: this.kernelScratch.ptr, backend });
  }

  /** 64-byte aligned; throws DeviceOutOfMemoryError past capacity (the message lists use per category). */
  alloc(bytes: number, category: MemoryCategory, label?: string): Allocation {
    return this.allocator.alloc(bytes, category, label);
  }

  /** Throws StateError on a double free or an allocation of another device. */
  free(a: Allocation): void {
    this.allocator.free(a);
  }

  /** Whether `a` is live on this device. */
  owns(a: Allocation): boolean {
    return this.allocator.owns(a);
  }

  /** capacityBytes is the whole memory; inUse/peak count requested bytes, kernel workspace included. */
  memoryStats(): MemoryStats {
    return { ...this.allocator.stats(), capacityBytes: this.capacityBytes };
  }

  resetPeak(): void {
    this.allocator.resetPeak();
  }

  /** Bytes the allocator can hand out at most (capacity less the reserved 64 KiB). */
  get allocatableBytes(): number {
    return this.allocator.capacityBytes;
  }

  /** Live allocations, largest first (diagnostics, leak checks). */
  liveAllocations(): Allocation[] {
    return this.allocator.liveAllocations();
  }

  f32(ptr: number, length: number): Float32Array {
    this.checkView(ptr, length, 4, 'f32');
    return new Float32Array(this.buffer, ptr, length);
  }

  u16(ptr: number, length: number): Uint16Array {
    this.checkView(ptr, length, 2, 'u16');
    return new Uint16Array(this.buffer, ptr, length);
  }

  i32(ptr: number, length: number): Int32Array {
    this.checkView(ptr, length, 4, 'i32');
    return new Int32Array(this.buffer, ptr, length);
  }

  u8(ptr: number, length: number): Uint8Array {
    this.checkView(ptr, length, 1, 'u8');
    return new Uint8Array(this.buffer, ptr, length);
  }

  toString(): string {
    return `Device(${this.name}, ${formatBytes(this.capacityBytes)}, ${this.kernels.backend})`;
  }

  private checkView(ptr: number, length: number, size: number, kind: string): void {
    if (
      !Number.isInteger(ptr) ||
      !Number.isInteger(length) ||
      ptr < 0 ||
      length < 0 ||
      ptr % size !== 0 ||
      ptr + length * size > this.capacityBytes
    ) {
      throw new RangeError(
        `${this.name}: ${kind} view at ${ptr} of ${length} elements is outside the memory or misaligned; ` +
          `need ptr % ${size} == 0 and ptr + ${size} * length <= ${this.capacityBytes}`,
      );
    }
  }
}
