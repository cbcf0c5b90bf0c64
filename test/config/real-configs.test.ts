// DeepSpeed configs in the shapes public repositories ship (test/fixtures/ds-configs: Hugging Face Trainer and
// Accelerate configs full of "auto", offload, stage 3 under DeepSpeed's field names, Megatron-style configs without
// an optimizer, older examples with cpu_offload) resolve unchanged once the training program's values fill them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fillAuto, type AutoValues } from '../../src/config/auto.js';
import { configNotices } from '../../src/config/notices.js';
import { policyFromConfig } from '../../src/config/policy.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { ConfigError } from '../../src/errors.js';

export const DS_CONFIG_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'test',
  'fixtures',
  'ds-configs',
);
const load = (name: string): unknown => JSON.parse(readFileSync(join(DS_CONFIG_DIR, name), 'utf8'));

const VALUES: AutoValues = {
  worldSize: 2,
  microBatch: 4,
  gradientAccumulation: 1,
  lr: 2e-3,
  betas: [0.9, 0.95],
  eps: 1e-8,
  weightDecay: 0.1,
  gradClip: 1,
  warmupSteps: 3,
  totalSteps: 20,
  precision: 'fp32',
  hiddenSize: 64,
};

test('every fixture config fills, resolves and gives a policy', () => {
  const names = readdirSync(DS_CONFIG_DIR).filter((f) => f.endsWith('.json'));
  assert.ok(names.length >= 8, `${names.length} fixtures`);
  for (const name of names) {
    const { config, filled } = fillAuto(load(name), VALUES);
    const c = resolveConfig(config, { worldSize: 2 });
    policyFromConfig(c);
    assert.ok(c.optimizer !== null, `${name}: an optimizer`);
    assert.ok(
      configNotices(c, filled).every((l) => !l.includes('\n')),
      name,
    );
  }
});

test('HF Trainer ZeRO-2 offload: every "auto" filled as the Trainer fills it, each listed once', () => {
  const { config, filled } = fillAuto(load('hf-trainer-zero2-offload.json'), VALUES);
  const c = resolveConfig(config, { worldSize: 2 });
  assert.equal(c.trainMicroBatchSizePerGpu, 4);
  assert.equal(c.gradientAccumulationSteps, 1);
  assert.equal(c.trainBatchSize, 8);
  assert.equal(c.gradientClipping, 1);
  assert.deepEqual(c.optimizer, {
    type: 'AdamW',
    params: { lr: 2e-3, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1, adamWMode: true, biasCorrection: true },
  });
  assert.deepEqual(c.scheduler, {
    type: 'WarmupLR',
    params: { warmupMinLr: 0, warmupMaxLr: 2e-3, warmupNumSteps: 3, warmupType: 'log' },
  });
  assert.equal(c.fp16.enabled, false);
  assert.equal(c.zero.reduceBucketSize, 64 * 64);
  assert.equal(c.zero.offloadOptimizer.device, 'cpu');
  assert.equal(policyFromConfig(c).optimizerState.placement, 'host');
  const paths = filled.map((f) => f.path);
  assert.equal(new Set(paths).size, paths.length, 'each value listed once');
  assert.deepEqual(paths.sort(), [
    'fp16.enabled',
    'gradient_accumulation_steps',
    'gradient_clipping',
    'optimizer.params.betas',
    'optimizer.params.eps',
    'optimizer.params.lr',
    'optimizer.params.weight_decay',
    'scheduler.params.warmup_max_lr',
    'scheduler.params.warmup_min_lr',
    'scheduler.params.warmup_num_steps',
    'train_batch_size',
    'train_micro_batch_size_per_gpu',
    'zero_optimization.reduce_bucket_size',
  ]);
  const notes = configNotices(c, filled);
  assert.ok(notes.some((l) => l.includes('accepted without effect') && l.includes('steps_per_print')));
  assert.ok(notes.some((l) => l.includes('zero_optimization.offload_optimizer.pin_memory')));
});

test('HF ZeRO-3: bucket sizes from the hidden size, total steps, bf16 from the precision', () => {
  const { config } = fillAuto(load('hf-trainer-zero3-offload.json'), { ...VALUES, precision: 'bf16', hiddenSize: 768 });
  const c = resolveConfig(config, { worldSize: 2 });
  assert.equal(c.zero.reduceBucketSize, 768 * 768);
  assert.equal(c.zero.stage3PrefetchBucketSize, Math.floor(0.9 * 768 * 768));
  assert.equal(c.zero.stage3ParamPersistenceThreshold, 7680);
  assert.equal(c.bf16.enabled, true);
  assert.equal(c.fp16.enabled, false);
  assert.equal(c.scheduler?.type, 'WarmupDecayLR');
  assert.equal(c.scheduler?.type === 'WarmupDecayLR' && c.scheduler.params.totalNumSteps, 20);
  assert.equal(c.zero.stage3Gather16bitWeightsOnModelSave, true);
  const p = policyFromConfig(c);
  assert.equal(p.paramShardPlacement, 'host');
  assert.equal(p.precision, 'bf16');
});

test('no optimizer: AdamW with the program values, said once; no batch size: the micro-batch', () => {
  const { config, filled } = fillAuto(load('megatron-zero1-no-optimizer.json'), VALUES);
  const c = resolveConfig(config, { worldSize: 2 });
  assert.equal(c.optimizer?.type, 'AdamW');
  assert.equal(c.optimizer?.params.lr, 2e-3);
  assert.equal(filled.filter((f) => f.path === 'optimizer').length, 1);
  assert.equal(c.trainBatchSize, 8);
  assert.equal(c.gradientAccumulationSteps, 2);
  // issue 9: activation_checkpointing is read (cpu_checkpointing acts); with every key false it says nothing
  assert.equal(c.activationCheckpointing.present, true);
  assert.equal(c.activationCheckpointing.cpuCheckpointing, false);
  assert.ok(!c.warnings.some((w) => w.includes('activation_checkpointing')));
  assert.ok(c.warnings.some((w) => w.includes('data_types.grad_accum_dtype')));
  const bare = fillAuto({ zero_optimization: { stage: 2 } }, VALUES);
  assert.equal(resolveConfig(bare.config, { worldSize: 2 }).trainMicroBatchSizePerGpu, 4);
});

test("DeepSpeed's field names, 0 where DeepSpeed takes 0, blocks DeepSpeed ignores are warned", () => {
  const c = resolveConfig(load('deepspeed-field-names-zero3.json'), { worldSize: 2 });
  assert.equal(c.zero.stage3PrefetchBucketSize, 50000);
  assert.equal(c.zero.stage3ParamPersistenceThreshold, 1000);
  assert.equal(c.zero.stage3MaxLiveParameters, 3e7);
  assert.equal(c.zero.stage3Gather16bitWeightsOnModelSave, true);
  assert.equal(c.zero.reduceBucketSize, 0);
  assert.equal(c.zero.subGroupSize, 0);
  assert.equal(policyFromConfig(c).gradientReducer.bucketElements, 1);
  assert.equal(c.bf16.enabled, true);
  assert.equal(c.communicationDataType, 'fp32');
  assert.equal(policyFromConfig(c).gradientReducer.commPrecision, 'fp32');
  assert.ok(c.warnings.some((w) => w.startsWith('config "comms_config" is ignored')));
  assert.ok(c.warnings.some((w) => w.startsWith('config "monitor_config" is ignored')));
  assert.ok(c.warnings.some((w) => w.includes('bf16.loss_scale')));
  // the stage3_ spellings are aliases of the same fields; both at once is an error
  const alias = resolveConfig(
    { train_batch_size: 2, zero_optimization: { stage: 3, stage3_max_live_parameters: 7 } },
    { worldSize: 1 },
  );
  assert.equal(alias.zero.stage3MaxLiveParameters, 7);
  assert.throws(
    () =>
      resolveConfig(
        { train_batch_size: 2, zero_optimization: { max_live_parameters: 1, stage3_max_live_parameters: 2 } },
        { worldSize: 1 },
      ),
    (e: unknown) => e instanceof ConfigError && e.message.includes('keep only "zero_optimization.max_live_parameters"'),
  );
});

test('"auto" left for the API user, or one nothing can fill, is a ConfigError naming the key', () => {
  assert.throws(
    () => resolveConfig(load('hf-trainer-zero2-offload.json'), { worldSize: 2 }),
    (e: unknown) => e instanceof ConfigError && e.message.includes('fillAuto'),
  );
  assert.throws(
    () => fillAuto({ train_batch_size: 8, zero_optimization: { stage: 'auto' } }, VALUES),
    (e: unknown) => e instanceof ConfigError && e.path === 'zero_optimization.stage',
  );
  assert.throws(
    () =>
      fillAuto(
        { train_batch_size: 8, zero_optimization: { reduce_bucket_size: 'auto' } },
        {
          ...VALUES,
          hiddenSize: undefined,
        },
      ),
    (e: unknown) => e instanceof ConfigError && e.message.includes('hidden size'),
  );
});

test('a config whose content is null is an error', () => {
  for (const f of [() => resolveConfig(null, { worldSize: 1 }), () => fillAuto(null, VALUES)])
    assert.throws(f, (e: unknown) => e instanceof ConfigError && e.message.includes('null'));
});
