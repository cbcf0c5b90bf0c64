// Stages 2 and 3: each bucket's gradients accumulate in a bucket-sized staging buffer; as soon as every parameter
// of the bucket has received all its gradient contributions of this backward, the bucket is reduce-scattered
// (averaged) and the rank adds its chunk into its partitioned gradient, then frees the staging buffer: what the rank
// does not own does not outlive the bucket.
//
// [Note: learning gradient readiness]
// A parameter may receive several contributions per backward (GPT's tied wte: the LM head's, then the embedding's),
// and nothing says how many in advance. The first backward therefore reduces every bucket at its end, in bucket
// order, and records how many contributions each parameter received; later backwards reduce a bucket the moment
// its parameters reach those counts. A contribution past the count (control flow that changed) is an error, never a
// silently dropped gradient. Cost: the first backward holds all staging buffers at once.
import { StateError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Work } from '../comm/types.js';
import { FlatBuffer } from './flat-buffer.js';
import { addSame, addTensorInto } from './grad-math.js';
import type { GradientReducer } from './grad-reducer.js';
import type { ZeroPlan } from './plan.js';

export class PartitionedGradReducer implements GradientReducer {
  readonly kind = 'reduce-scatter-during-backward' as const;
  private readonly shard: FlatBuffer;
  private readonly staging: (FlatBuffer | null)[];
  private readonly done: boolean[];
  private readonly uses: Int32Array;
  private expected: Int32Array | null = null;
  private readonly pending: { b: number; work: Work | null }[] = [];

  constructor(private readonly plan: ZeroPlan, private readonly overlapComm: boolean) {
    this.shard = FlatBuffer.zeros(plan.device, plan.layout.shardNumel, plan.dtype, 'grad', 'gradients (own partition)');
    const nb = plan.layout.buckets.length;
    this.staging = new Array(nb).fill(null);
    this.done = new Array(nb).fill(false);
    this.uses = new Int32Array(plan.names.length);
  }

  /** Bytes of staging buffers alive now (for tests of the freeing). */
  stagingBytes(): number {
    return this.staging.reduce((a, s) => a + (s?.bytes ?? 0), 0);
  }

  addGrad(i: number, g: Tensor): void {
    const [b, j] = this.plan.layout.locate[i];
    if (this.done[b]) {
      throw new StateError(
        `parameter ${this.plan.names[i]} received gradient contribution #${this.uses[i] + 1} in this backward after its bucket ` +
          `was already reduced (the first backward gave it ${this.expected?.[i] ?? '?'}): the model's control flow changed between steps. ` +
          'See [Note: learning gradient readiness] in src/zero/grad-reducer-partitioned.ts.',
      );
    }
    const L = this.plan.layout.buckets[b].layout;
    let st = this.staging[b];
    if (st === null) st = this.staging[b] = FlatBuffer.zeros(this.plan.device, L.padded, this.plan.dtype, 'grad', `gradient bucket ${b}`);
    addTensorInto(this.plan.device, st.at(L.entries[j].offset), this.plan.dtype, g);
    this.uses[i]++;
    if (this.expected !== null && L.entries.every((e) => this.uses[e.index] >= this.expected![e.index])) this.launch(b);
  }

  afterBackward(): void {
    // First backward: everything now, in bucket order; later: the buckets whose parameters got fewer contributions.
    for (let b = 0; b < this.done.length; b++) if (!this.done[b]) this.launch(b);
    this.drain();
    if (this.expected === null) this.expected = this.uses.slice();
    this.uses.fill(0);
    this.done.fill(false);
  }

  reduce(): void {
    if (this.staging.some((s) => s !== null)) throw new StateError('reduce() during a backward: call afterBackward() first');
  }

  segmentGrad(b: number): { buf: FlatBuffer; offset: number } {
    return { buf: this.shard, offset: this.plan.layout.buckets[b].shardOffset };
  }

  zero(): void {
    this.shard.fill0();
  }

  dispose(): void {
    this.drain();
    for (const s of this.staging) s?.dispose();
    this.staging.fill(null);
    this.shard.dispose();
  }

  private launch(b: number): void {
    const { group } = this.plan;
    const L = this.plan.layout.buckets[b].layout;
    let st = this.staging[b];
    if (st === null) st = this.staging[b] = FlatBuffer.zeros(this.plan.device, L.padded, this.plan.dtype, 'grad', `gradient bucket ${b}`);
    this.done[b] = true;
    // Overlap keeps at most one reduction in flight behind the backward computation.
    this.drain();
    const out = st.comm(group.rank * L.chunk, L.chunk);
    if (this.overlapComm) {
      this.pending.push({ b, work: group.reduceScatterAsync(out, st.comm(0, L.padded), 'avg', this.plan.dtype) });
    } else {
      group.reduceScatter(out, st.comm(0, L.padded), 'avg', this.plan.dtype);
      this.pending.push({ b, work: null });
      this.drain();
    }
  }

  private drain(): void {
    while (this.pending.length > 0) {
      const { b, work } = this.pending.shift()!;
      work?.wait();
      const bk = this.plan.layout.buckets[b];
      const st = this.staging[b]!;
      addSame(this.plan.device, this.shard.at(bk.shardOffset), st.at(this.plan.group.rank * bk.layout.chunk), bk.layout.chunk, this.plan.dtype);
      st.dispose();
      this.staging[b] = null;
    }
  }
}
