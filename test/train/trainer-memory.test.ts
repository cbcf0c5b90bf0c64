// 100 training steps of a tiny GPT: device memory returns to the same level after every step (no leak), the
// activation peak of every step equals the closed-form accounting (src/nn/activation-bytes.ts), and the model
// states take exactly params + grads + Adam's two moments, all fp32.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Trainer } from '../../src/train/trainer.js';
import { gptActivationBytes } from '../../src/nn/activation-bytes.js';
import { loadCorpus } from '../../src/data/corpus.js';

test('100 steps: no leak, activation peak equals the accounting, loss falls', () => {
  const model = { vocabSize: 256, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32 };
  const B = 4;
  const trainer = new Trainer({
    model,
    batchSize: B,
    steps: 100,
    lr: 3e-3,
    warmupSteps: 10,
    deviceBytes: 64 * 2 ** 20,
    corpus: loadCorpus().subarray(0, 200_000),
  });
  const dev = trainer.device;
  const P = trainer.model.parameters().reduce((s, p) => s + p.numel, 0);
  const expected = gptActivationBytes(model, B, model.blockSize);
  let level: ReturnType<typeof dev.memoryStats> | null = null;
  const losses: number[] = [];
  for (let s = 0; s < 100; s++) {
    dev.resetPeak();
    losses.push(trainer.step().loss);
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
  const val = trainer.evaluate();
  assert.ok(val < first - 1, `held-out loss ${val.toFixed(3)} well below the initial ${first.toFixed(3)}`);
  trainer.dispose();
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
  const trainer = new Trainer({
    model,
    batchSize: 4,
    steps: 30,
    lr: 1e-2,
    warmupSteps: 3,
    deviceBytes: 64 * 2 ** 20,
    corpus: loadCorpus().subarray(0, 100_000),
    dtype: 'bf16',
  });
  const first = trainer.step().loss;
  let last = first;
  for (let s = 1; s < 30; s++) last = trainer.step().loss;
  assert.ok(last < first - 1, `bf16 storage: loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
  const dev = trainer.device;
  const P = trainer.model.parameters().reduce((s, p) => s + p.numel, 0);
  assert.equal(dev.memoryStats().byCategory.param.inUse, 2 * P, '16-bit parameters');
  assert.equal(dev.memoryStats().byCategory.optimizer.inUse, 12 * P, 'fp32 master + m + v');
  const p = trainer.model.h[0].mlp.c_fc.weight;
  const master = (trainer.optimizer as unknown as { slots: { p: unknown; master: { f32(): Float32Array } }[] }).slots
    .find((s) => s.p === p)!
    .master.f32();
  const data = p.value().u16();
  for (let i = 0; i < 50; i++)
    assert.equal(bf16ToF32(data[i]), bf16ToF32(f32ToBf16(master[i])), `element ${i}: data = round(master)`);
  trainer.dispose();
});
