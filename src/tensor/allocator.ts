// A pure free-list allocator over one address range [base, end): no memory of its own, only bookkeeping.
// Used by Device (over a WebAssembly.Memory) and by HostMemory (over each arena).
//
// - Every block starts on a 64-byte boundary (cache line; also the widest SIMD alignment kernels want) and its
//   size is rounded up to a multiple of 64, so alignment holds after any free/alloc sequence.
// - Best fit (smallest free block that fits, lowest address on ties) keeps large blocks intact for large tensors.
// - Freed blocks coalesce with their free neighbours, so a full free returns one block spanning [base, end).
// - No growth: past capacity the allocation fails with DeviceOutOfMemoryError, exactly as a GPU would.
// - Accounting is per category, in requested bytes (what the formulas in estimate/ count), plus the reserved
//   (rounded) total; peaks are tracked per category and in total.
import { DeviceOutOfMemoryError, StateError } from '../errors.js';

export type MemoryCategory = 'param' | 'grad' | 'optimizer' | 'activation' | 'comm' | 'workspace' | 'other';
export const MEMORY_CATEGORIES: readonly MemoryCategory[] = [
  'param',
  'grad',
  'optimizer',
  'activation',
  'comm',
  'workspace',
  'other',
];

export interface Allocation {
  readonly ptr: number;
  readonly bytes: number;
  readonly category: MemoryCategory;
  readonly label?: string;
}
export interface CategoryStats {
  inUse: number;
  peak: number;
}
export interface MemoryStats {
  capacityBytes: number;
  inUseBytes: number;
  peakBytes: number;
  /**
   * The most address space the live blocks spanned at once since the last resetPeak: the highest end of a live
   * block above base, plus (placement 'two-ended') what the blocks placed from the top reached down. With a
   * capacity this large the same sequence of requests fits; the excess over peakBytes is alignment and holes.
   * (Device memory only; host arenas leave it out.)
   */
  spanBytes?: number;
  byCategory: Record<MemoryCategory, CategoryStats>;
}

export const ALIGNMENT = 64;

export function alignUp(n: number, a: number = ALIGNMENT): number {
  return Math.ceil(n / a) * a;
}

interface FreeBlock {
  start: number;
  size: number;
}

export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(2)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}

export class FreeListAllocator {
  /** Free blocks sorted by start address, never adjacent (always coalesced). */
  private readonly freeBlocks: FreeBlock[];
  /** Live allocations by pointer; the Allocation object itself is kept so a foreign one is recognised. */
  private readonly live = new Map<number, { alloc: Allocation; reserved: number }>();
  private readonly byCategory: Record<MemoryCategory, CategoryStats>;
  private inUse = 0;
  private peak = 0;
  private reservedInUse = 0;
  private spanPeak = 0;

  /**
   * @param base first usable byte (rounded up to 64)
   * @param end one past the last usable byte
   * @param name what this range is, for messages (e.g. `device "rank0"`)
   */
  constructor(
    readonly base: number,
    readonly end: number,
    readonly name: string = 'allocator',
  ) {
    const start = alignUp(base);
    if (!(Number.isSafeInteger(base) && Number.isSafeInteger(end)) || end < start) {
      throw new RangeError(
        `${name}: invalid range [${base}, ${end}); need integers with end >= base rounded up to ${ALIGNMENT}`,
      );
    }
    this.base = start;
    const size = Math.floor((end - start) / ALIGNMENT) * ALIGNMENT;
    this.end = start + size;
    this.freeBlocks = size > 0 ? [{ start, size }] : [];
    this.byCategory = Object.fromEntries(MEMORY_CATEGORIES.map((c) => [c, { inUse: 0, peak: 0 }])) as Record<
      MemoryCategory,
      CategoryStats
    >;
  }

  /** Bytes this allocator can hand out in total. */
  get capacityBytes(): number {
    return this.end - this.base;
  }

  alloc(bytes: number, category: MemoryCategory, label?: string): Allocation {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new RangeError(
        `${this.name}: cannot allocate ${bytes} bytes${label ? ` for "${label}"` : ''}; bytes must be a non-negative integer`,
      );
    }
    if (!(category in this.byCategory)) {
      throw new RangeError(
        `${this.name}: unknown memory category "${category}"; allowed: ${MEMORY_CATEGORIES.join(', ')}`,
      );
    }
    // A zero-byte request still gets a distinct 64-byte block: every live allocation has a unique pointer.
    const reserved = Math.max(ALIGNMENT, alignUp(bytes));
    let best = -1;
    for (let i = 0; i < this.freeBlocks.length; i++) {
      const b = this.freeBlocks[i]!;
      if (b.size >= reserved && (best < 0 || b.size < this.freeBlocks[best]!.size)) best = i;
    }
    if (best < 0) throw this.outOfMemory(bytes, category, label);
    const block = this.freeBlocks[best]!;
    const ptr = block.start;
    if (block.size === reserved) this.freeBlocks.splice(best, 1);
    else {
      block.start += reserved;
      block.size -= reserved;
    }
    const alloc: Allocation = label === undefined ? { ptr, bytes, category } : { ptr, bytes, category, label };
    this.live.set(ptr, { alloc, reserved });
    const c = this.byCategory[category];
    c.inUse += bytes;
    if (c.inUse > c.peak) c.peak = c.inUse;
    this.inUse += bytes;
    if (this.inUse > this.peak) this.peak = this.inUse;
    this.reservedInUse += reserved;
    if (ptr + reserved - this.base > this.spanPeak) this.spanPeak = ptr + reserved - this.base;
    return alloc;
  }

  free(a: Allocation): void {
    const entry = this.live.get(a.ptr);
    if (entry === undefined || entry.alloc !== a) {
      const why =
        entry === undefined
          ? 'it is not live (double free, or it was never allocated here)'
          : 'a different allocation lives at that address (it belongs to another allocator, or was already freed and the address reused)';
      throw new StateError(
        `${this.name}: cannot free ${a.bytes} bytes at ${a.ptr}${a.label ? ` ("${a.label}")` : ''}: ${why}`,
      );
    }
    this.live.delete(a.ptr);
    const c = this.byCategory[a.category];
    c.inUse -= a.bytes;
    this.inUse -= a.bytes;
    this.reservedInUse -= entry.reserved;
    this.insertFree(a.ptr, entry.reserved);
  }

  /** Whether `a` is a live allocation of this allocator. */
  owns(a: Allocation): boolean {
    return this.live.get(a.ptr)?.alloc === a;
  }

  private insertFree(start: number, size: number): void {
    const blocks = this.freeBlocks;
    // first block that starts after `start` (binary search)
    let lo = 0;
    let hi = blocks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (blocks[mid]!.start < start) lo = mid + 1;
      else hi = mid;
    }
    const prev = lo > 0 ? blocks[lo - 1]! : undefined;
    const next = lo < blocks.length ? blocks[lo]! : undefined;
    const joinsPrev = prev !== undefined && prev.start + prev.size === start;
    const joinsNext = next !== undefined && start + size === next.start;
    if (joinsPrev && joinsNext) {
      prev.size += size + next.size;
      blocks.splice(lo, 1);
    } else if (joinsPrev) prev.size += size;
    else if (joinsNext) {
      next.start = start;
      next.size += size;
    } else blocks.splice(lo, 0, { start, size });
  }

  stats(): MemoryStats {
    const byCategory = Object.fromEntries(MEMORY_CATEGORIES.map((c) => [c, { ...this.byCategory[c] }])) as Record<
      MemoryCategory,
      CategoryStats
    >;
    return {
      capacityBytes: this.capacityBytes,
      inUseBytes: this.inUse,
      peakBytes: this.peak,
      spanBytes: this.spanPeak,
      byCategory,
    };
  }

  /** Peaks restart from the current use (e.g. after warm-up, to measure one step). */
  resetPeak(): void {
    this.peak = this.inUse;
    this.spanPeak = this.span();
    for (const c of MEMORY_CATEGORIES) this.byCategory[c].peak = this.byCategory[c].inUse;
  }

  /** The address space the live blocks span now: up to the end of the highest one. */
  private span(): number {
    let top = this.base;
    for (const { alloc, reserved } of this.live.values()) top = Math.max(top, alloc.ptr + reserved);
    return top - this.base;
  }

  /** Bytes reserved by live blocks, alignment padding included. */
  get reservedBytes(): number {
    return this.reservedInUse;
  }

  /** Size of the largest free block (what one allocation can get at most). */
  get largestFreeBlock(): number {
    let m = 0;
    for (const b of this.freeBlocks) if (b.size > m) m = b.size;
    return m;
  }

  get freeBlockCount(): number {
    return this.freeBlocks.length;
  }

  get liveCount(): number {
    return this.live.size;
  }

  /** Live allocations, largest first (for diagnostics). */
  liveAllocations(): Allocation[] {
    return [...this.live.values()].map((e) => e.alloc).sort((x, y) => y.bytes - x.bytes);
  }

  private outOfMemory(bytes: number, category: MemoryCategory, label: string | undefined): DeviceOutOfMemoryError {
    const inUseByCategory: Record<string, number> = {};
    const parts: string[] = [];
    for (const c of MEMORY_CATEGORIES) {
      inUseByCategory[c] = this.byCategory[c].inUse;
      if (this.byCategory[c].inUse > 0)
        parts.push(`${c} ${formatBytes(this.byCategory[c].inUse)} (${this.byCategory[c].inUse} B)`);
    }
    const free = this.capacityBytes - this.reservedInUse;
    const largest = this.largestFreeBlock;
    const top = this.liveAllocations()
      .slice(0, 3)
      .map((a) => `${a.label ?? a.category} ${formatBytes(a.bytes)}`);
    const msg =
      `${this.name}: out of memory allocating ${formatBytes(bytes)} (${bytes} B) for ${category}${label ? ` "${label}"` : ''}; ` +
      `capacity ${formatBytes(this.capacityBytes)} (${this.capacityBytes} B), in use ${formatBytes(this.inUse)} (${this.inUse} B): ` +
      `${parts.length > 0 ? parts.join(', ') : 'nothing'}; free ${formatBytes(free)}, largest free block ${formatBytes(largest)}` +
      `${largest < free && alignUp(bytes) <= free ? ' (fragmented)' : ''}` +
      `${top.length > 0 ? `; largest live: ${top.join(', ')}` : ''}. ` +
      `Use a larger device capacity, a smaller batch or model, or a higher ZeRO stage / offload.`;
    return new DeviceOutOfMemoryError(msg, bytes, this.capacityBytes, inUseByCategory);
  }
}
