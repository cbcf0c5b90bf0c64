// Bad input under stage 3 with one parameter group per transformer block: rank 1's forward skips block 1 ('one'),
// or each rank skips a different block of equal shape ('swap': every gather has the same size on both ranks).
import { Device } from '../../src/tensor/device.js';
import { SkippingGPT } from '../helpers/skipping-gpt.js';
import { initialize } from '../../src/zero/engine.js';
import { GPT_TINY, dsConfig, microBatch } from '../helpers/lockstep-cases.js';
import type { FakeRankContext } from '../helpers/fake-world.js';

export async function divergeUnits(
  ctx: FakeRankContext,
  a: { mode: 'one' | 'swap'; blockElements: number },
): Promise<void> {
  const device = new Device({ capacityBytes: 16 << 20, kernels: 'js' });
  const group = await ctx.initProcessGroup(device.memory);
  const model = new SkippingGPT(device, GPT_TINY, { materialize: false });
  model.skip = a.mode === 'one' ? (ctx.rank === 1 ? 1 : -1) : ctx.rank === 0 ? 1 : 0;
  const config = dsConfig({
    stage: 3,
    precision: 'fp32',
    worldSize: ctx.worldSize,
    gas: 1,
    steps: 1,
    clip: 0,
    kernels: 'js',
    stage3: { prefetch: a.blockElements },
  });
  const engine = initialize({ model, config, group, device });
  const b = microBatch(0, 0, ctx.rank, ctx.worldSize);
  engine.trainBatch([[b.inputs, b.targets]]);
}
