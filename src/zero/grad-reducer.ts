// makeGradientReducer (the policy, config/policy.ts, names the kind) and the reducer of stages 0 and 1. The
// interface is in gradient-reducer.ts; the reducer of stages 2 and 3 in grad-reducer-partitioned.ts.
import { castedCopy, castRange } from './comm-cast.js';
import { StateError } from '../errors.js';
import type { GradientReducerKind } from '../config/policy.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Parameter } from '../nn/parameter.js';
import { FlatBuffer } from './flat-buffer.js';
import type { HostGradShard } from './offload/host-grad-shard.js';
import { addTensorInto } from './grad-math.js';
import { segment, type ZeroPlan } from './plan.js';
import { PartitionedGradReducer } from './grad-reducer-partitioned.js';
import type { GradientReducer } from './gradient-reducer.js';

export type { GradientReducer };

export function makeGradientReducer(
  kind: GradientReducerKind,
  plan: ZeroPlan,
  opts: { overlapComm: boolean; hostShard?: () => HostGradShard },
): GradientReducer {
  switch (kind) {
    case 'allreduce':
      return new FullGradReducer(plan, 'allreduce');
    case 'reduce-scatter-after-backward':
      return new FullGradReducer(plan, 'reduce-scatter-after-backward');
    case 'reduce-scatter-during-backward':
      return new PartitionedGradReducer(plan, opts.overlapComm, opts.hostShard);
  }
}

/**
 * Stages 0 and 1: every rank keeps a full gradient buffer (gradients are views into it); micro-steps accumulate
 * locally and the reduction runs once per step, bucket by bucket: an all-reduce (stage 0) or a reduce-scatter into
 * the rank's own chunk (stage 1), after which the rest of the buffer is stale until zero().
 */
class FullGradReducer implements GradientReducer {
  private readonly grads: FlatBuffer;
  private reduced = false;
  private bound: readonly Parameter[] = [];
  /** Reduces once per step, after the last backward: nothing to learn during backward. */
  readonly duringBackward = null;

  constructor(
    private readonly plan: ZeroPlan,
    readonly kind: 'allreduce' | 'reduce-scatter-after-backward',
  ) {
    this.grads = FlatBuffer.zeros(plan.device, plan.layout.padded, plan.dtype, 'grad', 'gradients (full)');
  }

  /**
   * fp32: each parameter's default gradient IS its view into the flat buffer, so ops accumulate into it directly,
   * exactly as in a single process (same summation order, no extra copy). 16-bit: through onGrad (fp32 -> 16-bit).
   */
  bind(params: readonly Parameter[]): void {
    this.bound = params;
    params.forEach((p, i) => {
      if (this.plan.dtype === 'f32') {
        const [b, j] = this.plan.layout.locate[i];
        p.freeGrad();
        p.grad = this.grads.view(
          this.plan.layout.buckets[b].flatOffset + this.plan.layout.buckets[b].layout.entries[j].offset,
          p.shape,
        );
      } else {
        p.onGrad = (g) => this.addGrad(i, g);
      }
    });
  }

  addGrad(i: number, g: Tensor): void {
    if (this.reduced)
      throw new StateError(
        `gradient of ${this.plan.names[i]} arrived after the reduction of this step; call step() (or zeroGrad) first`,
      );
    const [b, j] = this.plan.layout.locate[i];
    const at = this.plan.layout.buckets[b].flatOffset + this.plan.layout.buckets[b].layout.entries[j].offset;
    addTensorInto(this.plan.device, this.grads.at(at), this.plan.dtype, g);
  }

  reduce(): void {
    if (this.reduced) return;
    const { group, device, dtype } = this.plan;
    const commDtype = this.plan.commDtype ?? dtype;
    for (const bk of this.plan.layout.buckets) {
      const L = bk.layout;
      // communication_data_type: reduce a cast copy, cast the part this rank keeps back (comm-cast.ts)
      const buf =
        commDtype === dtype ? this.grads : castedCopy(device, this.grads.at(bk.flatOffset), dtype, L.padded, commDtype);
      const base = buf === this.grads ? bk.flatOffset : 0;
      const mine = this.kind === 'allreduce' ? 0 : group.rank * L.chunk;
      const n = this.kind === 'allreduce' ? L.padded : L.chunk;
      try {
        if (this.kind === 'allreduce') group.allReduce(buf.comm(base, L.padded), 'avg', commDtype);
        else group.reduceScatter(buf.comm(base + mine, L.chunk), buf.comm(base, L.padded), 'avg', commDtype);
        if (buf !== this.grads)
          castRange(device, this.grads.at(bk.flatOffset + mine), dtype, buf.at(mine), commDtype, n);
      } finally {
        if (buf !== this.grads) buf.dispose();
      }
    }
    this.reduced = true;
  }

  segmentGrad(b: number): { buf: FlatBuffer; offset: number } {
    if (!this.reduced) throw new StateError('segmentGrad before reduce()');
    return { buf: this.grads, offset: this.plan.layout.buckets[b].flatOffset + segment(this.plan, b).start };
  }

  zero(): void {
    this.grads.fill0();
    this.reduced = false;
  }

  dispose(): void {
    for (const p of this.bound) {
      p.onGrad = null;
      if (this.plan.dtype === 'f32') p.grad = null;
    }
    this.grads.dispose();
  }
}
