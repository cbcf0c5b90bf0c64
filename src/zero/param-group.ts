// A stage-3 parameter group (FSDP2's FSDPParamGroup): the parameters of one layout bucket, gathered by one
// all-gather of every rank's chunk into one flat buffer the group owns. It moves through Lifecycle's 'sharded' ->
// 'gathering' -> 'gathered' states: gather() starts the all-gather (asynchronously when asked), wait() completes it
// and points the parameters' data at the full buffer, release() frees the buffer and leaves the parameters without
// data. Which group to gather when, and which to keep, is the FetchSchedule's business and the fetcher's.
import type { Work } from '../comm/types.js';
import type { Parameter } from '../nn/parameter.js';
import { FlatBuffer } from './flat-buffer.js';
import type { PendingRead, ShardStorage } from './host-flat.js';
import { Lifecycle, type GroupState } from './param-lifecycle.js';
import type { ZeroPlan } from './plan.js';

export class ParamGroup {
  readonly life: Lifecycle;
  /** Elements of the gathered buffer (the bucket padded to a multiple of the world size). */
  readonly numel: number;
  /** Modules (and on-demand fetches) holding the group gathered now. */
  refs = 0;
  private full: FlatBuffer | null = null;
  private work: Work | null = null;
  private read: PendingRead | null = null;
  private async = false;

  constructor(
    private readonly plan: ZeroPlan,
    /** The layout bucket this group is. */
    readonly bucket: number,
    private readonly params: readonly Parameter[],
    /** This rank's shard storage (device or host), where the group's own chunk lives. */
    private readonly shard: ShardStorage,
    /** Small groups stay gathered (stage3_param_persistence_threshold). */
    readonly persistent: boolean,
  ) {
    const L = plan.layout.buckets[bucket]!.layout;
    this.numel = L.padded;
    this.life = new Lifecycle(`stage-3 parameter group ${bucket} (${L.entries.map((e) => e.name).join(', ')})`);
  }

  get state(): GroupState {
    return this.life.state;
  }

  /**
   * Starts the all-gather of every rank's chunk into a new full buffer (async: returns before it completes). With
   * `deferred` and a shard that reads asynchronously (nvme), only the own chunk's read is started: the all-gather
   * is issued by issue() (the fetcher's next acquire, or wait()), at the same point of the program on every rank.
   */
  gather(async: boolean, deferred = false): void {
    const L = this.plan.layout.buckets[this.bucket]!.layout;
    const { group, device, dtype } = this.plan;
    this.life.to('gathering');
    const full = new FlatBuffer(device, L.padded, dtype, 'param', `gathered group ${this.bucket}`);
    this.full = full;
    const mine = full.comm(group.rank * L.chunk, L.chunk);
    const at = this.plan.layout.buckets[this.bucket]!.shardOffset;
    this.async = async;
    if (deferred && this.shard.readAsync !== undefined) {
      this.read = this.shard.readAsync(at, mine);
      return;
    }
    if (this.shard.readInto !== undefined) this.shard.readInto(at, mine);
    else mine.set(this.shard.comm(at, L.chunk) as never);
    this.allGather();
  }

  /** True while the own chunk's read is in flight and the all-gather not issued yet (a deferred gather). */
  get reading(): boolean {
    return this.read !== null;
  }

  /** A deferred gather: waits for the own chunk's read and issues the all-gather. No-op otherwise. */
  issue(): void {
    if (this.read === null) return;
    const r = this.read;
    this.read = null;
    r.wait();
    this.allGather();
  }

  private allGather(): void {
    const L = this.plan.layout.buckets[this.bucket]!.layout;
    const { group, dtype } = this.plan;
    const full = this.full!;
    const mine = full.comm(group.rank * L.chunk, L.chunk);
    if (this.async) this.work = group.allGatherAsync(full.comm(0, L.padded), mine, dtype);
    else group.allGather(full.comm(0, L.padded), mine, dtype);
  }

  /** Completes the gather; the parameters' data become views into the full buffer. */
  wait(): void {
    this.issue();
    this.work?.wait();
    this.work = null;
    this.life.to('gathered');
    for (const e of this.plan.layout.buckets[this.bucket]!.layout.entries)
      this.params[e.index]!.data = this.full!.view(e.offset, this.plan.shapes[e.index]!);
  }

  /** Frees the full buffer (completing a gather in flight first); the parameters have no data. No-op when sharded. */
  release(): void {
    if (this.life.state === 'sharded') return;
    if (this.life.state === 'gathering' && this.read !== null) {
      // a deferred gather never used: its read is waited for, its all-gather never issued (on any rank)
      const r = this.read;
      this.read = null;
      r.wait();
      this.life.to('gathered');
    } else if (this.life.state === 'gathering') this.wait();
    this.life.to('sharded');
    for (const e of this.plan.layout.buckets[this.bucket]!.layout.entries) this.params[e.index]!.data = null;
    this.full!.dispose();
    this.full = null;
  }
}
