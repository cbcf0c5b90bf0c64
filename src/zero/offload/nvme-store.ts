// offload "nvme" (ZeRO-Infinity): each sub-group's buffers live in a swap file under nvme_path; host memory holds
// buffer_count swap buffers, each big enough for the largest sub-group. A pass over the sub-groups in order reads
// k+1 while k is stepped (pipeline_read) and writes k-1 back while k is stepped (pipeline_write); without pipelining
// each read and write completes before the step goes on. With two buffers the read of k+1 goes into the buffer whose
// write of k-1 is in flight: it is queued behind that write on the same I/O worker, so the step of k overlaps both.
// A swap buffer keeps its sub-group until it is needed for another, so a store with as many buffers as sub-groups
// reads nothing after the first pass. Ordering: a buffer is refilled only after its write; a file is read only after
// its last write (queued behind it, or waited for); a buffer is stepped only after its read and write are done.
// Swap files are scratch (the checkpoint is the durable state): created here, removed at dispose.
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { OffloadError } from '../../errors.js';
import type { NvmeSwapPolicy } from '../../config/policy.js';
import type { HostAllocation, HostArenaView, HostMemory } from '../../tensor/host.js';
import { TMP_BYTES } from './adam-job.js';
import { checkNvmePath, makeSwapDir, removeSwapDir } from './nvme-path.js';
import type { SubGroup } from './sub-groups.js';
import { hostExhausted, type SubGroupSlot, type SubGroupStore } from './sub-group-store.js';
import { SwapIO, type Ticket } from './swap-io.js';

/** I/O workers: one runs a pass's write of k-1 and read of k+1 while the other's are still in flight. */
const IO_THREADS = 2;

interface Buffer {
  readonly state: HostAllocation;
  readonly tmp: HostAllocation;
  readonly view: HostArenaView;
  group: number; // the sub-group it holds, -1 none
  read: Ticket | null;
  write: Ticket | null;
  used: number; // for least-recently-used eviction
}

export class NvmeStore implements SubGroupStore {
  readonly dir: string;
  private readonly files: { fd: number; path: string; fresh: boolean; write: Ticket | null }[] = [];
  private readonly buffers: Buffer[] = [];
  private readonly where: number[];
  private readonly io: SwapIO;
  private clock = 0;
  private failed: unknown = null;

  constructor(
    private readonly host: HostMemory,
    readonly groups: readonly SubGroup[],
    private readonly perElement: number, // fp32 buffers per element (master + states)
    threads: number,
    private readonly policy: NvmeSwapPolicy,
    rank: number,
  ) {
    checkNvmePath(policy.path, this.diskBytes);
    const largest = Math.max(1, ...groups.map((g) => g.end - g.start));
    this.where = groups.map(() => -1);
    const count = Math.min(policy.bufferCount, Math.max(2, groups.length));
    this.dir = makeSwapDir(policy.path, rank);
    this.io = new SwapIO(policy.ioThreads ?? IO_THREADS, policy.blockBytes ?? null);
    try {
      for (let i = 0; i < count; i++) {
        const bytes = this.perElement * largest * 4;
        let parts: HostAllocation[];
        try {
          parts = host.allocGroup([
            { bytes, category: 'optimizer', label: `nvme swap buffer ${i}` },
            { bytes: threads * TMP_BYTES, category: 'workspace', label: `offloaded step workspace ${i}` },
          ]);
        } catch (e) {
          hostExhausted(
            e,
            `nvme swap buffer ${i} of ${count} (${largest} elements x ${this.perElement} fp32 buffers)`,
            bytes,
            host,
            'Use a smaller zero_optimization.sub_group_size or offload_optimizer.buffer_count, more ranks, or more host memory.',
          );
        }
        const [state, tmp] = parts as [HostAllocation, HostAllocation];
        this.buffers.push({ state, tmp, view: host.arenaView(state), group: -1, read: null, write: null, used: 0 });
      }
      for (const g of groups) {
        const path = join(this.dir, `optimizer-subgroup${g.index}.swp`);
        try {
          this.files.push({ fd: openSync(path, 'w+'), path, fresh: true, write: null });
        } catch (e) {
          throw new OffloadError(`cannot create swap file ${path}: ${(e as Error).message}`, path);
        }
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  get hostBytes(): number {
    return this.buffers.reduce((a, b) => a + b.state.bytes, 0);
  }

  get diskBytes(): number {
    return this.groups.reduce((a, g) => a + this.perElement * (g.end - g.start) * 4, 0);
  }

  /** Bytes moved to and from the swap files so far. */
  get ioBytes(): { read: number; written: number } {
    return { read: this.io.bytesRead, written: this.io.bytesWritten };
  }

  acquire(k: number): SubGroupSlot {
    if (this.failed !== null) throw this.failed;
    const b = this.load(k, null);
    this.wait(b, 'read');
    this.wait(b, 'write'); // a write of this buffer still in flight reads the bytes the step is about to change
    if (this.policy.pipelineRead && k + 1 < this.groups.length && this.where[k + 1]! < 0) this.load(k + 1, b);
    b.used = ++this.clock;
    const g = this.groups[k]!;
    return { view: b.view, base: b.state.ptr, stride: g.end - g.start, tmp: b.tmp.ptr };
  }

  release(k: number, dirty: boolean): void {
    if (!dirty) return;
    const b = this.buffers[this.where[k]!]!;
    const f = this.files[k]!;
    f.fresh = false;
    b.write = f.write = this.guard(() => this.io.submit('write', f.fd, f.path, this.bytesOf(b, k), 0));
    if (!this.policy.pipelineWrite) this.wait(b, 'write');
  }

  finish(): void {
    try {
      this.io.drain();
    } catch (e) {
      this.failed = e;
      throw e;
    }
    for (const b of this.buffers) b.write = null;
    for (const f of this.files) f.write = null;
  }

  dispose(): void {
    this.io.close();
    for (const f of this.files.splice(0)) closeSync(f.fd);
    for (const b of this.buffers.splice(0)) {
      this.host.free(b.state);
      this.host.free(b.tmp);
    }
    if (this.dir !== undefined) removeSwapDir(this.dir);
  }

  /** Puts sub-group k into a buffer (reading its file unless fresh), evicting the least recently used other one. */
  private load(k: number, keep: Buffer | null): Buffer {
    const at = this.where[k]!;
    if (at >= 0) return this.buffers[at]!;
    let best = -1;
    for (let i = 0; i < this.buffers.length; i++) {
      const b = this.buffers[i]!;
      if (b === keep) continue;
      if (best < 0 || b.group < 0 || (this.buffers[best]!.group >= 0 && b.used < this.buffers[best]!.used)) best = i;
      if (b.group < 0) break;
    }
    const b = this.buffers[best]!;
    this.wait(b, 'read'); // a read-ahead never used
    if (b.group >= 0) this.where[b.group] = -1;
    b.group = k;
    this.where[k] = best;
    const f = this.files[k]!;
    const view = this.bytesOf(b, k);
    if (f.fresh) {
      this.wait(b, 'write');
      view.fill(0);
      return b;
    }
    // the read follows the buffer's write in flight (queued behind it) and the file's last write
    let after = b.write !== null && !this.io.done(b.write) ? b.write : null;
    const fw = f.write !== null && !this.io.done(f.write) ? f.write : null;
    if (fw !== null && after === null) after = fw;
    else if (fw !== null && fw.worker !== after!.worker) this.waitTicket(fw);
    b.write = null; // done before the read is (same worker, in order); a failure shows at the read's wait
    b.read = this.guard(() => this.io.submit('read', f.fd, f.path, view, 0, after));
    return b;
  }

  private guard(fn: () => Ticket): Ticket {
    try {
      return fn();
    } catch (e) {
      this.failed = e;
      throw e;
    }
  }

  private waitTicket(t: Ticket): void {
    try {
      this.io.wait(t);
    } catch (e) {
      this.failed = e;
      throw e;
    }
  }

  private bytesOf(b: Buffer, k: number): Uint8Array {
    const g = this.groups[k]!;
    return this.host.u8(b.state, this.perElement * (g.end - g.start) * 4);
  }

  private wait(b: Buffer, which: 'read' | 'write'): void {
    const t = b[which];
    if (t === null) return;
    b[which] = null;
    this.waitTicket(t);
  }
}
