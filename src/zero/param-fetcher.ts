// Stage 3: parameters live as shards; a gather unit's parameter groups (one flat group per unit: a transformer block
// or a single module, see [Note: coalesced gather units] in gather-units.ts) are gathered by one all-gather each
// before the unit's root module runs its forward and backward, and released after (unless small:
// stage3_param_persistence_threshold, or reused soon: stage3_max_reuse_distance), the next groups of the recorded
// order are prefetched (stage3_prefetch_bucket_size), and gathered elements are capped (stage3_max_live_parameters)
// by dropping prefetched groups nobody uses yet. Each group moves through Lifecycle's 'sharded' -> 'gathering' ->
// 'gathered' states.
import { StateError } from '../errors.js';
import type { Work } from '../comm/types.js';
import type { Module } from '../nn/module.js';
import type { Parameter } from '../nn/parameter.js';
import { FlatBuffer } from './flat-buffer.js';
import { HostFlat, type FlatStorage } from './host-flat.js';
import type { HostMemory } from '../tensor/host.js';
import { Lifecycle } from './param-lifecycle.js';
import { writeInitial } from './param-init.js';
import { shardSlices } from './partition.js';
import type { ZeroPlan } from './plan.js';
import type { ParameterStore } from './parameter-store.js';

export interface FetcherOptions {
  prefetchElements: number;
  persistenceThreshold: number;
  maxLiveElements: number;
  maxReuseDistance: number;
  overlapComm: boolean;
  /** offload_param "cpu": keep the shard in this host memory */
  host?: HostMemory;
}

interface Group {
  readonly life: Lifecycle;
  readonly persistent: boolean;
  full: FlatBuffer | null;
  work: Work | null;
  refs: number;
}

export class ParamFetcher implements ParameterStore {
  readonly kind = 'gather-per-module' as const;
  private readonly shard: FlatBuffer | HostFlat;
  private readonly groups: Group[];
  private readonly unhook: (() => void)[] = [];
  /** Group acquisitions of one whole step (forward then backward), recorded in the first step. */
  private trace: number[] | null = null;
  private recording: number[] = [];
  private pos = 0;
  private readonly onDemand: number[] = [];
  /** Gathered elements now, and the most at any time (for the memory tests). */
  liveElements = 0;
  peakLiveElements = 0;
  gathers = 0;

  constructor(
    private readonly plan: ZeroPlan,
    private readonly params: readonly Parameter[],
    modules: readonly { module: Module; groups: readonly number[] }[],
    private readonly o: FetcherOptions,
  ) {
    const { layout, group } = plan;
    this.shard =
      o.host !== undefined
        ? new HostFlat(o.host, layout.shardNumel, plan.dtype, 'param', 'parameters (own shard, offloaded)')
        : FlatBuffer.zeros(plan.device, layout.shardNumel, plan.dtype, 'param', 'parameters (own shard)');
    // Each rank computes only its own slices of the initial values: the full model never exists on a rank.
    layout.buckets.forEach((bk) => {
      for (const s of shardSlices(bk.layout, group.rank)) {
        writeInitial(
          plan,
          params[bk.layout.entries[s.entry].index],
          this.shard,
          bk.shardOffset + s.shardStart,
          s.paramStart,
          s.length,
        );
      }
    });
    this.groups = layout.buckets.map((bk, b) => ({
      life: new Lifecycle(`stage-3 parameter group ${b} (${bk.layout.entries.map((e) => e.name).join(', ')})`),
      persistent: bk.layout.used < o.persistenceThreshold,
      full: null,
      work: null,
      refs: 0,
    }));
    params.forEach((p, i) => {
      p.release();
      p.onFetch = () => {
        const b = plan.layout.locate[i][0];
        this.acquire(b);
        this.onDemand.push(b);
      };
    });
    for (const { module, groups } of modules) {
      if (groups.length === 0) continue;
      const name = module.prefix === '' ? '(root)' : module.prefix;
      // A gather that fails (ranks that diverged in which modules they run fail here with a collective mismatch)
      // names the module it was for.
      const named = (phase: string, fn: () => void) => () => {
        try {
          fn();
        } catch (e) {
          if (e instanceof Error && !e.message.startsWith('stage 3'))
            e.message = `stage 3, module "${name}" (${phase}), rank ${group.rank}: ${e.message}`;
          throw e;
        }
      };
      const pre = () => {
        for (const b of groups) this.acquire(b);
      };
      const post = () => {
        for (const b of groups) this.releaseRef(b);
      };
      this.unhook.push(
        module.registerPreForward(named('before forward', pre)),
        module.registerPostForward(named('after forward', post)),
        module.registerPreBackward(named('before backward', pre)),
        module.registerPostBackward(named('after backward', post)),
      );
    }
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
      if (g.life.state === 'gathering') this.finish(b);
      if (g.life.state === 'gathered') this.release(b);
    });
    if (this.trace === null && this.recording.length > 0) this.trace = this.recording;
    this.pos = 0;
  }

  endPass(): void {
    while (this.onDemand.length > 0) this.releaseRef(this.onDemand.pop()!);
    // prefetched but not used and not about to be (the order changed): give the memory back
    const ahead = this.window();
    this.groups.forEach((g, b) => {
      if (g.refs === 0 && !g.persistent && g.life.state !== 'sharded' && !ahead.has(b) && !this.reusedSoon(b)) {
        if (g.life.state === 'gathering') this.finish(b);
        this.release(b);
      }
    });
  }

  dispose(): void {
    for (const u of this.unhook) u();
    this.groups.forEach((g, b) => {
      if (g.life.state === 'gathering') this.finish(b);
      if (g.life.state === 'gathered') this.release(b);
    });
    for (const p of this.params) p.onFetch = null;
    this.shard.dispose();
  }

  private acquire(b: number): void {
    const g = this.groups[b];
    if (this.trace === null) this.recording.push(b);
    else this.pos++;
    if (g.life.state === 'sharded') this.start(b, false);
    if (g.life.state === 'gathering') this.finish(b);
    g.refs++;
    this.prefetch();
  }

  private releaseRef(b: number): void {
    const g = this.groups[b];
    g.refs--;
    if (g.refs === 0 && !g.persistent && !this.reusedSoon(b)) this.release(b);
  }

  /** Whether group b is acquired again within maxReuseDistance gathered elements (known from the first step). */
  private reusedSoon(b: number): boolean {
    if (this.trace === null) return false;
    let between = 0;
    for (let q = this.pos; q < this.trace.length; q++) {
      if (this.trace[q] === b) return between < this.o.maxReuseDistance;
      between += this.plan.layout.buckets[this.trace[q]].layout.padded;
      if (between >= this.o.maxReuseDistance) return false;
    }
    return false;
  }

  /** The groups the prefetcher would fetch next: the trace from here on, up to prefetchElements. */
  private window(): Set<number> {
    const out = new Set<number>();
    if (this.trace === null || this.o.prefetchElements <= 0) return out;
    let budget = this.o.prefetchElements;
    for (let q = this.pos; q < this.trace.length && budget > 0; q++) {
      out.add(this.trace[q]);
      budget -= this.plan.layout.buckets[this.trace[q]].layout.padded;
    }
    return out;
  }

  private prefetch(): void {
    for (const b of this.window()) {
      if (this.groups[b].life.state !== 'sharded') continue;
      if (this.liveElements + this.plan.layout.buckets[b].layout.padded > this.o.maxLiveElements) return;
      this.start(b, this.o.overlapComm);
    }
  }

  private start(b: number, async: boolean): void {
    const g = this.groups[b];
    const L = this.plan.layout.buckets[b].layout;
    const { group, device, dtype } = this.plan;
    if (this.liveElements + L.padded > this.o.maxLiveElements) this.evict(L.padded);
    g.life.to('gathering');
    const full = new FlatBuffer(device, L.padded, dtype, 'param', `gathered group ${b}`);
    g.full = full;
    const mine = full.comm(group.rank * L.chunk, L.chunk);
    mine.set(this.shard.comm(this.plan.layout.buckets[b].shardOffset, L.chunk) as never);
    this.liveElements += L.padded;
    this.peakLiveElements = Math.max(this.peakLiveElements, this.liveElements);
    this.gathers++;
    if (async) g.work = group.allGatherAsync(full.comm(0, L.padded), mine, dtype);
    else group.allGather(full.comm(0, L.padded), mine, dtype);
  }

  private finish(b: number): void {
    const g = this.groups[b];
    g.work?.wait();
    g.work = null;
    g.life.to('gathered');
    for (const e of this.plan.layout.buckets[b].layout.entries)
      this.params[e.index].data = g.full!.view(e.offset, this.plan.shapes[e.index]);
  }

  private release(b: number): void {
    const g = this.groups[b];
    g.life.to('sharded');
    for (const e of this.plan.layout.buckets[b].layout.entries) this.params[e.index].data = null;
    this.liveElements -= g.full!.numel;
    g.full!.dispose();
    g.full = null;
  }

  /** Frees prefetched or kept groups nobody holds until `need` more elements fit under the cap. */
  private evict(need: number): void {
    this.groups.forEach((g, b) => {
      if (this.liveElements + need <= this.o.maxLiveElements) return;
      if (g.refs === 0 && !g.persistent && g.life.state !== 'sharded') {
        if (g.life.state === 'gathering') this.finish(b);
        this.release(b);
      }
    });
  }
}
