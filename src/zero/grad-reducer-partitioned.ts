// Stages 2 and 3: each bucket's gradients accumulate in a bucket-sized staging buffer; as soon as every parameter
// of the bucket has received all its gradient contributions of this backward, the bucket is reduce-scattered
// (averaged) and the rank adds its chunk into its partitioned gradient, then frees the staging buffer: what the rank
// does not own does not outlive the bucket.
//
// Readiness: the engine calls paramReady(i) when parameter i's gradient of this backward is complete (see
// readiness.ts: every module that used it has finished its backward); a bucket is reduced when all its parameters
// are ready, and whatever is left (parameters no module region used) at afterBackward(), in bucket order, so every
// rank issues the same collectives in the same order as long as the ranks run the same modules. A gradient that
// arrives for a bucket already reduced is an error, never a silently dropped gradient.
import { StateError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Parameter } from '../nn/parameter.js';
import type { Work } from '../comm/types.js';
import { FlatBuffer } from './flat-buffer.js';
import { addSame, addTensorInto } from './grad-math.js';
import { castedCopy, castRange } from './comm-cast.js';
import type { BackwardReduction, GradientReducer } from './gradient-reducer.js';
import type { HostGradShard } from './offload/host-grad-shard.js';
import type { ZeroPlan } from './plan.js';

export class PartitionedGradReducer implements GradientReducer, BackwardReduction {
  readonly kind = 'reduce-scatter-during-backward' as const;
  readonly duringBackward: BackwardReduction = this;
  /** the reduced own partition: on the device, or in host memory under optimizer offload */
  private readonly shard: FlatBuffer | HostGradShard;
  private readonly staging: (FlatBuffer | null)[];
  private readonly done: boolean[];
  private readonly ready: Uint8Array;
  private readonly readyCount: Int32Array;
  /** In flight: bucket b's reduction, on its staging buffer or (communication_data_type) on a cast copy. */
  private readonly pending: { b: number; work: Work | null; cast: FlatBuffer | null }[] = [];
  /** A hash of the order buckets were reduced in since the last zero() (see signature()). */
  private order = 0;

  constructor(
    private readonly plan: ZeroPlan,
    private readonly overlapComm: boolean,
    hostShard?: () => HostGradShard,
  ) {
    this.shard =
      hostShard?.() ??
      FlatBuffer.zeros(plan.device, plan.layout.shardNumel, plan.dtype, 'grad', 'gradients (own partition)');
    const nb = plan.layout.buckets.length;
    this.staging = new Array(nb).fill(null);
    this.done = new Array(nb).fill(false);
    this.ready = new Uint8Array(plan.names.length);
    this.readyCount = new Int32Array(nb);
  }

  private bound: readonly Parameter[] = [];

  /**
   * Between backwards (and in 16-bit always) gradients arrive through onGrad and are added into the staging bucket.
   * In fp32, once a module using the parameter starts its backward (prepare), the parameter's default gradient IS
   * its view into the staging bucket, so ops accumulate directly, in a single process's order; after the bucket is
   * reduced, a late gradient throws instead of landing in a freed buffer.
   */
  bind(params: readonly Parameter[]): void {
    this.bound = params;
    params.forEach((_, i) => this.unbind(i));
  }

  prepare(i: number): void {
    if (this.plan.dtype !== 'f32') return;
    const [b, j] = this.plan.layout.locate[i];
    if (this.done[b]) return; // addGrad reports the late gradient
    const p = this.bound[i];
    if (p === undefined || p.grad !== null) return;
    const st = this.stage(b);
    p.onGrad = null;
    p.grad = st.view(this.plan.layout.buckets[b].layout.entries[j].offset, p.shape);
  }

  private unbind(i: number): void {
    const p = this.bound[i];
    if (p === undefined) return;
    p.grad = null;
    p.onGrad = (g) => this.addGrad(i, g);
  }

  private stage(b: number): FlatBuffer {
    let st = this.staging[b];
    if (st === null)
      st = this.staging[b] = FlatBuffer.zeros(
        this.plan.device,
        this.plan.layout.buckets[b].layout.padded,
        this.plan.dtype,
        'grad',
        `gradient bucket ${b}`,
      );
    return st;
  }

  /** Bytes of staging buffers alive now (for tests of the freeing). */
  stagingBytes(): number {
    return this.staging.reduce((a, s) => a + (s?.bytes ?? 0), 0);
  }

  addGrad(i: number, g: Tensor): void {
    const [b, j] = this.plan.layout.locate[i];
    if (this.done[b]) {
      throw new StateError(
        `parameter ${this.plan.names[i]} received a gradient after its bucket was reduced in this backward: an op used it ` +
          'outside the backward of the modules that list it in directParameters(); list it there (see src/zero/readiness.ts).',
      );
    }
    const L = this.plan.layout.buckets[b].layout;
    addTensorInto(this.plan.device, this.stage(b).at(L.entries[j].offset), this.plan.dtype, g);
  }

  paramReady(i: number): void {
    if (this.ready[i]) return;
    this.ready[i] = 1;
    const b = this.plan.layout.locate[i][0];
    // a bucket nothing wrote to this backward waits for afterBackward (its zeros still go through the collective)
    if (
      ++this.readyCount[b] === this.plan.layout.buckets[b].layout.entries.length &&
      !this.done[b] &&
      this.staging[b] !== null
    )
      this.launch(b);
  }

  afterBackward(): void {
    for (let b = 0; b < this.done.length; b++) if (!this.done[b]) this.launch(b);
    this.drain();
    this.ready.fill(0);
    this.readyCount.fill(0);
    this.done.fill(false);
  }

  reduce(): void {
    if (this.staging.some((s) => s !== null))
      throw new StateError('reduce() during a backward: call afterBackward() first');
  }

  segmentGrad(b: number): { buf: FlatBuffer | HostGradShard; offset: number } {
    return { buf: this.shard, offset: this.plan.layout.buckets[b].shardOffset };
  }

  /**
   * The order this rank reduced its buckets in since the last step, as an integer below 2^20 (exact in fp32 sums).
   * Ranks whose backward passes ran different modules reduce in different orders; equal-size buckets would then be
   * mixed up silently, so the engine compares signatures across ranks in its one scalar all-reduce.
   */
  signature(): number {
    return this.order;
  }

  zero(): void {
    this.shard.fill0();
    this.order = 0;
  }

  dispose(): void {
    for (const p of this.bound) {
      p.onGrad = null;
      p.grad = null;
    }
    this.drain();
    for (const s of this.staging) s?.dispose();
    this.staging.fill(null);
    this.shard.dispose();
  }

  private launch(b: number): void {
    const { group } = this.plan;
    const L = this.plan.layout.buckets[b].layout;
    const st = this.stage(b);
    this.done[b] = true;
    // the bucket's gradients are final: direct accumulation ends here (a late one goes to addGrad, which throws)
    for (const e of L.entries) this.unbind(e.index);
    this.order = (this.order * 31 + b + 1) % 1048573; // a prime below 2^20
    // Overlap keeps at most one reduction in flight behind the backward computation.
    this.drain();
    const commDtype = this.plan.commDtype ?? this.plan.dtype;
    const cast =
      commDtype === this.plan.dtype ? null : castedCopy(this.plan.device, st.ptr, this.plan.dtype, L.padded, commDtype);
    const buf = cast ?? st;
    const out = buf.comm(group.rank * L.chunk, L.chunk);
    if (this.overlapComm) {
      this.pending.push({ b, work: group.reduceScatterAsync(out, buf.comm(0, L.padded), 'avg', commDtype), cast });
    } else {
      group.reduceScatter(out, buf.comm(0, L.padded), 'avg', commDtype);
      this.pending.push({ b, work: null, cast });
      this.drain();
    }
  }

  private drain(): void {
    while (this.pending.length > 0) {
      const { b, work, cast } = this.pending.shift()!;
      work?.wait();
      const bk = this.plan.layout.buckets[b];
      const st = this.staging[b]!;
      if (cast !== null) {
        const at = this.plan.group.rank * bk.layout.chunk;
        castRange(this.plan.device, st.at(at), this.plan.dtype, cast.at(at), cast.dtype, bk.layout.chunk);
        cast.dispose();
      }
      const mine = st.at(this.plan.group.rank * bk.layout.chunk);
      if (this.shard instanceof FlatBuffer)
        addSame(this.plan.device, this.shard.at(bk.shardOffset), mine, bk.layout.chunk, this.plan.dtype);
      else this.shard.addFromDevice(bk.shardOffset, mine, bk.layout.chunk); // to the host at once
      st.dispose();
      this.staging[b] = null;
    }
  }
}
