// One rank trains as every rank does: the ZeRO engine at stage 0 over the local (world size 1) process group. 100
// training steps of a tiny GPT: device memory returns to the same level after every step (no leak), the activation
// peak of every step equals the closed-form accounting (src/nn/activation-bytes.ts), and the model states take
// exactly params + grads + Adam's two moments, all fp32; bf16 keeps 16-bit parameters and an fp32 master, the data
// being the master rounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../../src/tensor/device.js';
import { GPT, gptNoDecay, type GPTConfig } from '../../src/nn/gpt.js';
import { gptActivationBytes } from '../../src/nn/activation-bytes.js';
import { DistributedSampler, loadCorpus, trainValSplit } from '../../src/data/index.js';
import { localProcessGroup } from '../../src/comm/local.js';
import { initialize, type ZeroEngine } from '../../src/zero/engine.js';
import { gptTrainingConfig } from '../../src/train/configs.js';
import { heldOutLoss } from '../../src/train/held-out.js';

function oneRank(
  model: Omit<GPTConfig, 'seed'>,
  B: number,
  steps: number,
  lr: number,
  precision: 'fp32' | 'bf16',
  corpusBytes: number,
): { device: Device; engine: ZeroEngine<GPT>; step: (s: number) => number; val: Uint8Array } {
  const device = new Device({ capacityBytes: 64 * 2 ** 20, name: 'rank0' });
  const gpt = new GPT(device, { ...model, seed: 1337 }, { materialize: false });
  const config = gptTrainingConfig({ steps, stage: 0, microBatch: B, lr, precision });
  const engine = initialize({
    model: gpt,
    config,
    group: localProcessGroup(device.memory),
    device,
    noDecay: gptNoDecay,
  });
  const { train, val } = trainValSplit(loadCorpus().subarray(0, corpusBytes));
  const T = model.blockSize;
  const sampler = new DistributedSampler(train, { blockSize: T, microBatchSize: B });
  const step = (s: number): number => {
    const b = sampler.batch(1337, Math.floor(s / sampler.stepsPerEpoch), s % sampler.stepsPerEpoch);
    return engine.trainBatch([
      [
        { B, T, data: b.inputs },
        { B, T, data: b.targets },
      ],
    ]).loss;
  };
  return { device, engine, step, val };
}

test('100 steps: no leak, activation peak equals the accounting, loss falls', () => {
  const model = { vocabSize: 256, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32 };
  const B = 4;
  const { device: dev, engine, step, val } = oneRank(model, B, 100, 3e-3, 'fp32', 200_000);
  const P = engine.model.parameters().reduce((s, p) => s + p.numel, 0);
  const expected = gptActivationBytes(model, B, model.blockSize);
  let level: ReturnType<typeof dev.memoryStats> | null = null;
  const losses: number[] = [];
  for (let s = 0; s < 100; s++) {
    dev.resetPeak();
    losses.push(step(s));
    const st = dev.memoryStats();
    assert.equal(
      st.byCategory.activation.peak,
      expected.peak,
      `step ${s}: activation peak ${st.byCategory.activation.peak} vs accounting ${expected.peak}`,
    );
    assert.equal(st.byCategory.activation.inUse, 0, `step ${s}: every activation freed`);
    if (level === null) {
      level = st;
      assert.equal(st.byCategory.param.inUse, 4 * P, 'fp32 parameters');
      assert.equal(st.byCategory.grad.inUse, 4 * P, 'fp32 gradients');
      assert.equal(st.byCategory.optimizer.inUse, 8 * P, 'Adam m and v');
    } else {
      assert.equal(st.inUseBytes, level.inUseBytes, `step ${s}: device memory back to the level after step 0`);
      const inUse = (m: typeof st): Record<string, number> =>
        Object.fromEntries(Object.entries(m.byCategory).map(([k, v]) => [k, v.inUse]));
      assert.deepEqual(inUse(st), inUse(level), `step ${s}: per category`);
    }
  }
  assert.ok(expected.peak > expected.forward, 'backward adds gradients on top of the saved activations');
  const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
  const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(
    first > 5 && last < first - 1.5,
    `loss falls: first steps ${first.toFixed(3)}, last steps ${last.toFixed(3)}`,
  );
  const held = heldOutLoss(dev, engine.model, val, { rank: 0, worldSize: 1, blockSize: 16, microBatch: B, batches: 4 });
  assert.ok(held < first - 1, `held-out loss ${held.toFixed(3)} well below the initial ${first.toFixed(3)}`);
  engine.dispose();
  const end = dev.memoryStats().byCategory;
  assert.deepEqual(
    [end.param.inUse, end.grad.inUse, end.optimizer.inUse, end.activation.inUse],
    [0, 0, 0, 0],
    'dispose frees the model states',
  );
});

test('bf16 parameter storage trains: AdamW updates an fp32 master and rounds it into the 16-bit data', async () => {
  const { bf16ToF32, f32ToBf16 } = await import('../../src/tensor/dtype.js');
  const model = { vocabSize: 256, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32 };
  const { device: dev, engine, step } = oneRank(model, 4, 30, 1e-2, 'bf16', 100_000);
  const first = step(0);
  let last = first;
  for (let s = 1; s < 30; s++) last = step(s);
  assert.ok(last < first - 1, `bf16 storage: loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
  const P = engine.model.parameters().reduce((s, p) => s + p.numel, 0);
  assert.equal(dev.memoryStats().byCategory.param.inUse, 2 * P, '16-bit parameters');
  assert.equal(dev.memoryStats().byCategory.optimizer.inUse, 12 * P, 'fp32 master + m + v');
  const p = engine.model.h[0]!.mlp.c_fc.weight;
  const master = engine.consolidate().params[p.name]!;
  const data = p.value().u16();
  for (let i = 0; i < 50; i++)
    assert.equal(bf16ToF32(data[i]!), bf16ToF32(f32ToBf16(master[i]!)), `element ${i}: data = round(master)`);
  engine.dispose();
});
