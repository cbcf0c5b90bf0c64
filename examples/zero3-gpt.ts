// Train a small GPT with ZeRO stage 3 (bf16) on 2 worker-thread ranks over the shipped corpus.
// Run after `npm install`:  node dist/examples/zero3-gpt.js [steps]
import { spawnWorld, type RankContext } from '../src/launch/index.js';
import { Device } from '../src/tensor/device.js';
import { GPT } from '../src/nn/gpt.js';
import { initialize } from '../src/zero/engine.js';
import { DistributedSampler, loadCorpus, trainValSplit } from '../src/data/index.js';

const MODEL = { vocabSize: 256, blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 64, seed: 1 };

/** Runs on every rank. */
export async function rank(ctx: RankContext, steps: number): Promise<{ losses: number[]; paramBytes: number }> {
  const device = new Device({ capacityBytes: 256 << 20, name: `rank${ctx.rank}` });
  const group = await ctx.initProcessGroup(device.memory);
  // Stage 3 never materialises the full model: each rank initialises only its own shard.
  const model = new GPT(device, MODEL, { materialize: false });
  const engine = initialize({
    model,
    group,
    config: {
      train_micro_batch_size_per_gpu: 4,
      gradient_accumulation_steps: 1,
      gradient_clipping: 1.0,
      optimizer: { type: 'AdamW', params: { lr: 1e-3, weight_decay: 0.1 } },
      scheduler: { type: 'WarmupCosineLR', params: { total_num_steps: steps, warmup_num_steps: 2 } },
      bf16: { enabled: true },
      zero_optimization: { stage: 3 },
    },
  });
  const { train } = trainValSplit(loadCorpus());
  const sampler = new DistributedSampler(train, {
    blockSize: MODEL.blockSize,
    microBatchSize: 4,
    worldSize: ctx.worldSize,
    rank: ctx.rank,
    shuffle: true,
  });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const b = sampler.batch(1234, 0, s);
    const { loss } = engine.trainBatch([
      [
        { B: b.B, T: b.T, data: b.inputs },
        { B: b.B, T: b.T, data: b.targets },
      ],
    ]);
    losses.push(loss);
  }
  const paramBytes = engine.memoryStats().byCategory.param.inUse;
  engine.dispose();
  return { losses, paramBytes };
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) {
  const steps = Number(process.argv[2] ?? 20);
  const results = await spawnWorld<{ losses: number[]; paramBytes: number }>({
    worldSize: 2,
    transport: 'threads',
    module: import.meta.url,
    fn: 'rank',
    args: steps,
  });
  results[0].losses.forEach((l, i) => console.log(`step ${i + 1}: loss ${l.toFixed(4)}`));
  console.log(`param bytes per rank: ${results.map((r) => r.paramBytes).join(', ')}`);
}
