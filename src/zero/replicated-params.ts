// Stages 0-2: every rank holds all parameters (in the model's storage dtype) in one flat, bucketed buffer; each
// parameter's data is a view into it. Stage 0 updates every element on every rank (replicated optimizer); stages 1
// and 2 update only the rank's chunk of each bucket and all-gather the buckets after the step.
import type { Parameter } from '../nn/parameter.js';
import { FlatBuffer } from './flat-buffer.js';
import type { ParameterStore } from './parameter-store.js';
import { writeInitial } from './param-init.js';
import type { ZeroPlan } from './plan.js';
import { segment } from './plan.js';

export class ReplicatedParams implements ParameterStore {
  private readonly flat: FlatBuffer;

  constructor(
    private readonly plan: ZeroPlan,
    private readonly params: readonly Parameter[],
    readonly kind: 'replicated' | 'allgather-after-step',
  ) {
    this.flat = FlatBuffer.zeros(plan.device, plan.layout.padded, plan.dtype, 'param', 'parameters (full)');
    params.forEach((p, i) => {
      const [b, j] = plan.layout.locate[i];
      const at = plan.layout.buckets[b].flatOffset + plan.layout.buckets[b].layout.entries[j].offset;
      writeInitial(plan, p, this.flat, at, 0, p.numel);
      p.release();
      p.data = this.flat.view(at, p.shape);
    });
  }

  segmentParam(b: number): { buf: FlatBuffer; offset: number } {
    return { buf: this.flat, offset: this.plan.layout.buckets[b].flatOffset + segment(this.plan, b).start };
  }

  gatherUpdated(): void {
    if (this.kind !== 'allgather-after-step') return;
    const { group } = this.plan;
    for (const bk of this.plan.layout.buckets) {
      const L = bk.layout;
      group.allGather(
        this.flat.comm(bk.flatOffset, L.padded),
        this.flat.comm(bk.flatOffset + group.rank * L.chunk, L.chunk),
        this.plan.dtype,
      );
    }
  }

  dispose(): void {
    for (const p of this.params) p.data = null;
    this.flat.dispose();
  }
}
