// Bucket sizes from the model's hidden size (issue 9, item 5): unset or "auto" reduce_bucket_size,
// stage3_prefetch_bucket_size and stage3_param_persistence_threshold become h^2, 0.9 h^2 and 10 h, and an unset
// stage3_max_reuse_distance 0.9 h^2 ([Note: a model-sized reuse distance]), said in one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/config/resolve.js';
import { fillAuto, type AutoValues } from '../../src/config/auto.js';
import { configNotices } from '../../src/config/notices.js';
import { Device } from '../../src/tensor/device.js';
import { GPT } from '../../src/nn/gpt.js';
import { initialize } from '../../src/zero/engine.js';
import type { ProcessGroup } from '../../src/comm/types.js';

const base = { train_batch_size: 2, optimizer: { type: 'AdamW', params: { lr: 1e-3 } } };
const h = 384;

test('unset bucket sizes come from the hidden size (stage 3: all four; below: reduce_bucket_size only)', () => {
  const c3 = resolveConfig({ ...base, zero_optimization: { stage: 3 } }, { worldSize: 2, hiddenSize: h });
  assert.equal(c3.zero.reduceBucketSize, h * h);
  assert.equal(c3.zero.stage3PrefetchBucketSize, Math.floor(0.9 * h * h));
  assert.equal(c3.zero.stage3ParamPersistenceThreshold, 10 * h);
  // DeepSpeed's 1e9 would keep every group of a model this size gathered from its forward to its backward
  assert.equal(c3.zero.stage3MaxReuseDistance, Math.floor(0.9 * h * h));
  const notes = configNotices(c3).filter((l) => l.includes('bucket sizes'));
  assert.equal(notes.length, 1, 'said once');
  for (const k of [
    'reduce_bucket_size',
    'stage3_prefetch_bucket_size',
    'stage3_param_persistence_threshold',
    'stage3_max_reuse_distance',
  ])
    assert.ok(notes[0]!.includes(k), `${k} in ${notes[0]}`);
  assert.ok(notes[0]!.includes(`hidden size ${h}`));
  const c1 = resolveConfig({ ...base, zero_optimization: { stage: 1 } }, { worldSize: 2, hiddenSize: h });
  assert.equal(c1.zero.reduceBucketSize, h * h);
  assert.deepEqual(
    c1.sizedFromModel.map((f) => f.path),
    ['zero_optimization.reduce_bucket_size'],
  );
  // no zero_optimization block at all (stage 0): the reduce bucket still
  assert.equal(resolveConfig(base, { worldSize: 2, hiddenSize: h }).zero.reduceBucketSize, h * h);
});

test("explicit sizes stay; without a hidden size DeepSpeed's defaults stay and nothing is said", () => {
  const z = {
    stage: 3,
    reduce_bucket_size: 1000,
    stage3_prefetch_bucket_size: 0,
    param_persistence_threshold: 7,
    stage3_max_reuse_distance: 1e9,
  };
  const c = resolveConfig({ ...base, zero_optimization: z }, { worldSize: 2, hiddenSize: h });
  assert.equal(c.zero.reduceBucketSize, 1000);
  assert.equal(c.zero.stage3PrefetchBucketSize, 0);
  assert.equal(c.zero.stage3ParamPersistenceThreshold, 7);
  assert.equal(c.zero.stage3MaxReuseDistance, 1e9);
  assert.deepEqual(c.sizedFromModel, []);
  const d = resolveConfig({ ...base, zero_optimization: { stage: 3 } }, { worldSize: 2 });
  assert.equal(d.zero.reduceBucketSize, 5e8);
  assert.equal(d.zero.stage3PrefetchBucketSize, 5e7);
  assert.equal(d.zero.stage3ParamPersistenceThreshold, 1e5);
  assert.equal(d.zero.stage3MaxReuseDistance, 1e9);
  assert.ok(!configNotices(d).some((l) => l.includes('bucket sizes')));
});

test('"auto" and unset together: one line for all four', () => {
  const values: AutoValues = {
    worldSize: 2,
    microBatch: 1,
    gradientAccumulation: 1,
    lr: 1e-3,
    betas: [0.9, 0.95],
    eps: 1e-8,
    weightDecay: 0,
    gradClip: 1,
    warmupSteps: 1,
    totalSteps: 10,
    precision: 'bf16',
    hiddenSize: h,
  };
  const raw = { ...base, zero_optimization: { stage: 3, reduce_bucket_size: 'auto' } };
  const { config, filled } = fillAuto(raw, values);
  const c = resolveConfig(config, { worldSize: 2, hiddenSize: h });
  assert.equal(c.zero.reduceBucketSize, h * h);
  assert.equal(c.zero.stage3PrefetchBucketSize, Math.floor(0.9 * h * h));
  const notes = configNotices(c, filled);
  const lines = notes.filter((l) => l.includes('bucket'));
  assert.equal(lines.length, 1, notes.join('\n'));
  assert.equal(lines[0]!.split('zero_optimization.').length - 1, 4, lines[0]);
});

test("initialize sizes unset buckets from the model's hidden size (GPT: n_embd)", () => {
  const device = new Device({ capacityBytes: 8 << 20, kernels: 'js' });
  const gpt = { vocabSize: 23, blockSize: 6, nLayer: 1, nHead: 2, nEmbd: 12, seed: 1 };
  const model = new GPT(device, gpt);
  const group = { rank: 0, worldSize: 1, transport: 'threads' } as unknown as ProcessGroup;
  const engine = initialize({ model, config: { ...base, zero_optimization: { stage: 1 } }, group, device });
  assert.equal(engine.config.zero.reduceBucketSize, 144);
  assert.equal(engine.config.sizedFromModel.length, 1);
  // the layout follows: no bucket above h^2 elements unless one parameter is larger
  for (const b of engine.plan.layout.buckets)
    assert.ok(b.layout.entries.length === 1 || b.layout.padded <= 144 + 64, `bucket of ${b.layout.padded}`);
  engine.dispose();
});
