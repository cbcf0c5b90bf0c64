// Bad input: rank 1's forward skips the second transformer block. Under stage 3 the ranks then gather different
// parameter groups; that must fail with an error naming the module and the ranks, not hang.
import { Device } from '../../src/tensor/device.js';
import { SkippingGPT } from '../helpers/skipping-gpt.js';
import { initialize } from '../../src/zero/engine.js';
import { GPT_TINY, dsConfig, microBatch } from '../helpers/lockstep-cases.js';
import type { FakeRankContext } from '../helpers/fake-world.js';

/**
 * mode 'one': rank 1 leaves out block 1. mode 'swap': rank 0 leaves out block 1, rank 1 block 0: the blocks have equal
 * shapes, so with one bucket per parameter every collective has the same size on both ranks, only the order differs.
 */
export async function diverge(
  ctx: FakeRankContext,
  a: { stage: 0 | 1 | 2 | 3; mode: 'one' | 'swap' } = { stage: 3, mode: 'one' },
): Promise<void> {
  const device = new Device({ capacityBytes: 16 << 20, kernels: 'js' });
  const group = await ctx.initProcessGroup(device.memory);
  const model = new SkippingGPT(device, GPT_TINY, { materialize: false });
  model.skip = a.mode === 'one' ? (ctx.rank === 1 ? 1 : -1) : ctx.rank === 0 ? 1 : 0;
  const engine = initialize({
    model,
    config: dsConfig({
      stage: a.stage,
      bucket: a.mode === 'swap' ? 1 : undefined,
      precision: 'fp32',
      worldSize: ctx.worldSize,
      gas: 1,
      steps: 1,
      clip: 0,
      kernels: 'js',
      strict3: true,
    }),
    group,
    device,
  });
  const b = microBatch(0, 0, ctx.rank, ctx.worldSize);
  engine.trainBatch([[b.inputs, b.targets]]);
}
