// Stage 3's ParameterStore: parameters live as shards. A gather unit's parameter groups (one flat group per unit: a
// transformer block or a single module, see [Note: coalesced gather units] in gather-units.ts) are gathered by one
// all-gather each before the unit's root module runs its forward and backward, and released after (unless small:
// stage3_param_persistence_threshold, or reused soon: stage3_max_reuse_distance); the next groups of the recorded
// order are prefetched (stage3_prefetch_bucket_size), and gathered elements are capped (stage3_max_live_parameters)
// by dropping prefetched groups nobody uses yet. The parts, as FSDP2 splits them: ParamGroup (param-group.ts: a
// group's buffer, lifecycle, gather/wait/release), FetchSchedule (fetch-schedule.ts: trace, prefetch window, reuse
// distance, eviction) and ModuleHookState (module-hooks.ts: a module's hooks). This file composes them and keeps
// the count of gathered elements.
import type { Module } from '../nn/module.js';
import type { Parameter } from '../nn/parameter.js';
import { StateError } from '../errors.js';
import { FetchSchedule } from './fetch-schedule.js';
import { FlatBuffer } from './flat-buffer.js';
import type { FlatStorage, ShardStorage } from './host-flat.js';
import { ModuleHookState } from './module-hooks.js';
import type { ParameterStore } from './parameter-store.js';
import { ParamGroup } from './param-group.js';
import { writeInitial } from './param-init.js';
import { shardSlices } from './partition.js';
import type { ZeroPlan } from './plan.js';

export interface FetcherOptions {
  prefetchElements: number;
  persistenceThreshold: number;
  maxLiveElements: number;
  maxReuseDistance: number;
  overlapComm: boolean;
  /** Where the shard lives (make-param-shard.ts: device, host, nvme); default: a device buffer. Owned: disposed here. */
  shard?: ShardStorage;
}

/** The swap I/O of an nvme parameter shard (bytes and counts; "overlapped" and "ahead" counted by construction). */
export interface ShardIOStats {
  read: number;
  written: number;
  /** gather reads, and of them the prefetched (asynchronous) ones */
  reads: number;
  readsAsync: number;
  /** prefetched reads still in flight at the acquire after their prefetch (waited there, not when submitted) */
  readsAhead: number;
  /** window write backs, and of them those still queued when a later window was opened */
  writes: number;
  writesOverlapped: number;
}

export class ParamFetcher implements ParameterStore {
  readonly kind = 'gather-per-module' as const;
  private readonly shard: ShardStorage;
  private readonly groups: ParamGroup[];
  private readonly schedule: FetchSchedule;
  private readonly hooks: ModuleHookState[];
  /** Groups fetched on demand (a parameter read outside its module's hooks), released at the end of the pass. */
  private readonly onDemand: number[] = [];
  /** Gathered elements now, and the most at any time (for the memory tests). */
  liveElements = 0;
  peakLiveElements = 0;
  gathers = 0;
  /** Prefetched gathers whose chunk read (nvme) was in flight from their prefetch to a later acquire. */
  readsAhead = 0;
  /** Prefetched groups whose all-gather waits for their chunk's read (in prefetch order). */
  private readonly deferred: ParamGroup[] = [];

  constructor(
    private readonly plan: ZeroPlan,
    private readonly params: readonly Parameter[],
    modules: readonly { module: Module; groups: readonly number[] }[],
    private readonly o: FetcherOptions,
  ) {
    const { layout, group } = plan;
    this.shard =
      o.shard ?? FlatBuffer.zeros(plan.device, layout.shardNumel, plan.dtype, 'param', 'parameters (own shard)');
    try {
      writeOwnShard(plan, params, this.shard);
      this.shard.flush?.();
    } catch (e) {
      this.shard.dispose();
      throw e;
    }
    this.groups = layout.buckets.map(
      (bk, b) => new ParamGroup(plan, b, params, this.shard, bk.layout.used < o.persistenceThreshold),
    );
    this.schedule = new FetchSchedule(
      this.groups.map((g) => g.numel),
      o,
    );
    params.forEach((p, i) => {
      p.release();
      p.onFetch = () => {
        const b = plan.layout.locate[i][0];
        this.acquire(b);
        this.onDemand.push(b);
      };
    });
    const access = { acquire: (b: number) => this.acquire(b), letGo: (b: number) => this.letGo(b) };
    this.hooks = modules
      .filter((m) => m.groups.length > 0)
      .map((m) => new ModuleHookState(m.module, m.groups, group.rank, access));
  }

  /** Where the shard's bytes are now: host memory (cpu; nvme while open) and swap file (nvme). */
  get shardBytes(): { hostBytes: number; diskBytes: number } {
    const s = this.shard as Partial<{ hostBytes: number; diskBytes: number }>;
    return { hostBytes: s.hostBytes ?? 0, diskBytes: s.diskBytes ?? 0 };
  }

  /** offload_param nvme: the shard's swap I/O, and the prefetched reads in flight until a later acquire. */
  get shardIO(): ShardIOStats | null {
    const io = (this.shard as Partial<{ ioStats: Omit<ShardIOStats, 'readsAhead'> }>).ioStats;
    return io === undefined ? null : { ...io, readsAhead: this.readsAhead };
  }

  segmentParam(b: number): { buf: FlatStorage; offset: number } {
    return { buf: this.shard, offset: this.plan.layout.buckets[b].shardOffset };
  }

  /** The shard changed (optimizer step): gathered copies are stale, drop them (persistent ones are re-gathered). */
  gatherUpdated(): void {
    this.groups.forEach((g, b) => {
      if (g.refs !== 0)
        throw new StateError(
          `stage-3 parameter group ${b} is still in use (a module's forward or backward did not finish) at step()`,
        );
      this.release(g);
    });
    this.shard.flush?.(); // the step's copy-back is kept (nvme: written to its swap file)
    this.schedule.endStep();
  }

  endPass(): void {
    while (this.onDemand.length > 0) this.letGo(this.onDemand.pop()!);
    // prefetched but not used and not about to be (the order changed): give the memory back
    const ahead = this.schedule.window();
    this.groups.forEach((g, b) => {
      if (this.idle(g) && !ahead.has(b) && !this.schedule.reusedSoon(b)) this.release(g);
    });
  }

  dispose(): void {
    for (const h of this.hooks) h.dispose();
    for (const g of this.groups) this.release(g);
    for (const p of this.params) p.onFetch = null;
    this.shard.dispose();
  }

  private acquire(b: number): void {
    this.issueDeferred();
    const g = this.groups[b]!;
    this.schedule.acquired(b);
    if (g.state === 'sharded') this.gather(g, false);
    if (g.state === 'gathering') g.wait();
    g.refs++;
    this.prefetch();
  }

  private letGo(b: number): void {
    const g = this.groups[b]!;
    g.refs--;
    if (g.refs === 0 && !g.persistent && !this.schedule.reusedSoon(b)) this.release(g);
  }

  /** Gathered (or gathering), held by nobody, and not kept for its size. */
  private idle(g: ParamGroup): boolean {
    return g.refs === 0 && !g.persistent && g.state !== 'sharded';
  }

  private prefetch(): void {
    for (const b of this.schedule.window()) {
      const g = this.groups[b]!;
      if (g.state !== 'sharded') continue;
      if (!this.schedule.fits(this.liveElements, g.numel)) return;
      this.gather(g, this.o.overlapComm, true);
    }
  }

  /**
   * Prefetched groups whose own chunk was still being read (nvme) get their all-gathers now, in the order they were
   * prefetched: at each acquire, a point every rank reaches in the same order, so the collectives match.
   */
  private issueDeferred(): void {
    for (const g of this.deferred.splice(0))
      if (g.reading) {
        g.issue();
        this.readsAhead++;
      }
  }

  private gather(g: ParamGroup, async: boolean, prefetch = false): void {
    if (!this.schedule.fits(this.liveElements, g.numel)) {
      const idle = this.groups.filter((x) => this.idle(x)).map((x) => x.bucket);
      for (const b of this.schedule.evictions(this.liveElements, g.numel, idle)) this.release(this.groups[b]!);
    }
    g.gather(async, prefetch);
    if (g.reading) this.deferred.push(g);
    this.liveElements += g.numel;
    this.peakLiveElements = Math.max(this.peakLiveElements, this.liveElements);
    this.gathers++;
  }

  private release(g: ParamGroup): void {
    if (g.state === 'sharded') return;
    g.release();
    this.liveElements -= g.numel;
  }
}

/** Each rank computes only its own slices of the initial values: the full model never exists on a rank. */
function writeOwnShard(plan: ZeroPlan, params: readonly Parameter[], shard: FlatStorage): void {
  for (const bk of plan.layout.buckets)
    for (const s of shardSlices(bk.layout, plan.group.rank))
      writeInitial(
        plan,
        params[bk.layout.entries[s.entry].index]!,
        shard,
        bk.shardOffset + s.shardStart,
        s.paramStart,
        s.length,
      );
}
