// Bad input under stage 3 with one parameter group per transformer block: rank 1's forward skips block 1 ('one'),
// or each rank skips a different block of equal shape ('swap': every gather has the same size on both ranks).
import { Device } from '../../../src/tensor/device.js';
import { GPT, flattenBatch, type TokenBatch } from '../../../src/nn/gpt.js';
import type { Tape } from '../../../src/autograd/tape.js';
import type { Tensor } from '../../../src/tensor/tensor.js';
import { add, crossEntropy } from '../../../src/autograd/ops/index.js';
import { initialize } from '../../../src/zero/engine.js';
import { GPT_TINY, dsConfig, microBatch } from '../lockstep-common.js';
import type { FakeRankContext } from '../fake-world.js';

class SkippingGPT extends GPT {
  skip = -1;
  override forward(tape: Tape, idx: TokenBatch, targets?: TokenBatch): { logits: Tensor; loss: Tensor | null } {
    const x = flattenBatch(idx, 'idx');
    const t = flattenBatch(targets!, 'targets');
    return this.region(tape, () => {
      const pos = Int32Array.from({ length: x.B * x.T }, (_, i) => i % x.T);
      let h = add(tape, this.wte.forward(tape, tape.input(x.data, [x.B, x.T], { dtype: 'i32' })), this.wpe.forward(tape, tape.input(pos, [x.B, x.T], { dtype: 'i32' })));
      this.h.forEach((block, i) => { if (i !== this.skip) h = block.forward(tape, h); });
      const logits = this.lm_head.forward(tape, this.ln_f.forward(tape, h));
      return { logits, loss: crossEntropy(tape, logits, tape.input(t.data, [t.B, t.T], { dtype: 'i32' })) };
    });
  }
}

export async function divergeUnits(ctx: FakeRankContext, a: { mode: 'one' | 'swap'; blockElements: number }): Promise<void> {
  const device = new Device({ capacityBytes: 16 << 20, kernels: 'js' });
  const group = await ctx.initProcessGroup(device.memory);
  const model = new SkippingGPT(device, GPT_TINY, { materialize: false });
  model.skip = a.mode === 'one' ? (ctx.rank === 1 ? 1 : -1) : ctx.rank === 0 ? 1 : 0;
  const config = dsConfig({ stage: 3, precision: 'fp32', worldSize: ctx.worldSize, gas: 1, steps: 1, clip: 0, kernels: 'js', stage3: { prefetch: a.blockElements } });
  const engine = initialize({ model, config, group, device });
  const b = microBatch(0, 0, ctx.rank, ctx.worldSize);
  engine.trainBatch([[b.inputs, b.targets]]);
}
