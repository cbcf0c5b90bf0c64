// Where an offloaded optimizer's sub-groups live between steps: resident in host arenas (offload "cpu") or in
// swap files streamed through a few host buffers (offload "nvme"). Either way a sub-group, while acquired, is one
// host block [master | state 1 | ... ] of `stride` fp32 elements each, in one arena, with the stepping threads'
// workspace beside it; the optimizer step and readers see no difference between the two.
import { DeviceOutOfMemoryError, OffloadError } from '../../errors.js';
import { formatBytes } from '../../tensor/allocator.js';
import type { HostAllocation, HostArenaView, HostMemory } from '../../tensor/host.js';
import { TMP_BYTES } from './adam-job.js';
import type { SubGroup } from './sub-groups.js';

export interface SubGroupSlot {
  readonly view: HostArenaView;
  /** byte address (in view's memory) of the fp32 master; buffer q at base + q * stride * 4 */
  readonly base: number;
  readonly stride: number;
  /** the threads' workspace: thread t's at tmp + t * TMP_BYTES */
  readonly tmp: number;
}

export interface SubGroupStore {
  readonly groups: readonly SubGroup[];
  /** host bytes held for the state buffers (resident sub-groups, or the swap buffers) */
  readonly hostBytes: number;
  /** bytes of the swap files (0 when resident) */
  readonly diskBytes: number;
  /** Sub-group k's buffers, resident until release (a fresh store's are zero). */
  acquire(k: number): SubGroupSlot;
  /** Done with k; dirty: its buffers changed and must be kept (written back to its swap file). */
  release(k: number, dirty: boolean): void;
  /** After a pass over the sub-groups: waits for outstanding writes (a failed one throws, naming its file). */
  finish(): void;
  dispose(): void;
}

/** What to say when host memory cannot hold a piece of the offloaded state. */
export function hostExhausted(e: unknown, what: string, bytes: number, host: HostMemory, hint: string): never {
  if (!(e instanceof DeviceOutOfMemoryError)) throw e;
  const s = host.memoryStats();
  throw new OffloadError(
    `${host.name}: out of host memory for ${what} (${formatBytes(bytes)}): host capacity ` +
      `${formatBytes(s.capacityBytes)}, in use ${formatBytes(s.inUseBytes)}. ${hint} (${e.message})`,
    null,
    { cause: e },
  );
}

/** offload "cpu": every sub-group resident in its own host allocation. */
export class ResidentStore implements SubGroupStore {
  private readonly blocks: { state: HostAllocation; tmp: HostAllocation; view: HostArenaView }[] = [];

  constructor(
    private readonly host: HostMemory,
    readonly groups: readonly SubGroup[],
    private readonly buffers: number,
    threads: number,
  ) {
    try {
      for (const g of groups) {
        const n = g.end - g.start;
        const bytes = Math.max(4, this.buffers * n * 4);
        let parts: HostAllocation[];
        try {
          parts = host.allocGroup([
            { bytes, category: 'optimizer', label: `optimizer sub-group ${g.index} (offloaded)` },
            { bytes: threads * TMP_BYTES, category: 'workspace', label: `offloaded step workspace ${g.index}` },
          ]);
        } catch (e) {
          hostExhausted(
            e,
            `optimizer sub-group ${g.index} of ${groups.length} (${n} elements x ${this.buffers} fp32 buffers)`,
            bytes,
            host,
            'Use more ranks, offload_optimizer.device "nvme" (host memory then holds only buffer_count sub-groups), ' +
              'a smaller zero_optimization.sub_group_size, or more host memory.',
          );
        }
        const [state, tmp] = parts as [HostAllocation, HostAllocation];
        host.u8(state).fill(0);
        this.blocks.push({ state, tmp, view: host.arenaView(state) });
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  get hostBytes(): number {
    return this.blocks.reduce((a, b) => a + b.state.bytes, 0);
  }

  get diskBytes(): number {
    return 0;
  }

  acquire(k: number): SubGroupSlot {
    const b = this.blocks[k]!;
    const g = this.groups[k]!;
    return { view: b.view, base: b.state.ptr, stride: g.end - g.start, tmp: b.tmp.ptr };
  }

  release(): void {}

  finish(): void {}

  dispose(): void {
    for (const b of this.blocks.splice(0)) {
      this.host.free(b.state);
      this.host.free(b.tmp);
    }
  }
}
