import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/config/resolve.js';
import { ConfigError } from '../../src/errors.js';

function configError(fn: () => unknown, path: string, ...fragments: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.path, path, e.message);
    for (const f of fragments) {
      if (typeof f === 'string')
        assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
      else assert.match(e.message, f);
    }
    return true;
  });
}

test("defaults are DeepSpeed's and the result is frozen", () => {
  const c = resolveConfig({ train_batch_size: 8 }, { worldSize: 2 });
  assert.equal(c.trainMicroBatchSizePerGpu, 4);
  assert.equal(c.gradientAccumulationSteps, 1);
  assert.equal(c.gradientClipping, 0);
  assert.equal(c.optimizer, null);
  assert.equal(c.scheduler, null);
  assert.deepEqual(c.fp16, {
    enabled: false,
    lossScale: 0,
    initialScalePower: 16,
    lossScaleWindow: 1000,
    hysteresis: 2,
    consecutiveHysteresis: false,
    minLossScale: 1,
  });
  assert.equal(c.bf16.enabled, false);
  assert.equal(c.zero.stage, 0);
  assert.equal(c.zero.reduceBucketSize, 5e8);
  assert.equal(c.zero.allgatherBucketSize, 5e8);
  assert.equal(c.zero.overlapComm, false);
  assert.equal(c.zero.stage3PrefetchBucketSize, 5e7);
  assert.equal(c.zero.stage3ParamPersistenceThreshold, 1e5);
  assert.equal(c.zero.stage3MaxLiveParameters, 1e9);
  assert.equal(c.zero.subGroupSize, 1e9);
  assert.equal(c.zero.offloadOptimizer.device, 'none');
  assert.equal(c.zero.offloadOptimizer.bufferCount, 4);
  assert.equal(c.zero.offloadParam.bufferCount, 5);
  assert.equal(c.zero.offloadParam.bufferSize, 1e8);
  assert.equal(c.stepsPerPrint, 10);
  assert.ok(
    Object.isFrozen(c) && Object.isFrozen(c.zero) && Object.isFrozen(c.zero.offloadParam) && Object.isFrozen(c.fp16),
  );
  assert.throws(() => {
    (c as { gradientClipping: number }).gradientClipping = 1;
  }, TypeError);
});

test('overlap_comm defaults to true for stage 3 only; explicit values win', () => {
  assert.equal(
    resolveConfig({ train_batch_size: 1, zero_optimization: { stage: 3 } }, { worldSize: 1 }).zero.overlapComm,
    true,
  );
  assert.equal(
    resolveConfig({ train_batch_size: 1, zero_optimization: { stage: 2 } }, { worldSize: 1 }).zero.overlapComm,
    false,
  );
  assert.equal(
    resolveConfig({ train_batch_size: 1, zero_optimization: { stage: 3, overlap_comm: false } }, { worldSize: 1 }).zero
      .overlapComm,
    false,
  );
});

test('a typical DeepSpeed config resolves unchanged', () => {
  const ds = {
    train_batch_size: 32,
    gradient_accumulation_steps: 2,
    gradient_clipping: 1.0,
    steps_per_print: 100,
    optimizer: { type: 'AdamW', params: { lr: 3e-4, betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.1 } },
    scheduler: {
      type: 'WarmupDecayLR',
      params: { warmup_min_lr: 0, warmup_max_lr: 3e-4, warmup_num_steps: 100, total_num_steps: 1000 },
    },
    fp16: {
      enabled: true,
      loss_scale: 0,
      initial_scale_power: 12,
      loss_scale_window: 500,
      hysteresis: 2,
      min_loss_scale: 1,
    },
    zero_optimization: {
      stage: 2,
      contiguous_gradients: true,
      overlap_comm: true,
      reduce_scatter: true,
      reduce_bucket_size: 5e8,
      allgather_bucket_size: 5e8,
      offload_optimizer: { device: 'cpu', pin_memory: true },
    },
    wall_clock_breakdown: false,
    tensorboard: { enabled: true, output_path: 'runs' },
  };
  const c = resolveConfig(ds, { worldSize: 4 });
  assert.equal(c.trainMicroBatchSizePerGpu, 4);
  assert.equal(c.optimizer?.type, 'AdamW');
  assert.deepEqual(c.optimizer?.params, {
    lr: 3e-4,
    betas: [0.9, 0.95],
    eps: 1e-8,
    weightDecay: 0.1,
    adamWMode: true,
    biasCorrection: true,
  });
  assert.equal(c.scheduler?.type, 'WarmupDecayLR');
  assert.equal(c.fp16.initialScalePower, 12);
  assert.equal(c.zero.offloadOptimizer.device, 'cpu');
  assert.equal(c.zero.offloadOptimizer.pinMemory, true);
  assert.deepEqual(c.ignoredKeys, [
    'tensorboard',
    'steps_per_print',
    'wall_clock_breakdown',
    'zero_optimization.contiguous_gradients',
    'zero_optimization.allgather_bucket_size',
    'zero_optimization.offload_optimizer.pin_memory',
  ]);
  // the input object is not modified
  assert.equal(ds.optimizer.type, 'AdamW');
});

test('batch triple: any two determine the third', () => {
  const r = (j: object, w: number) => {
    const c = resolveConfig(j, { worldSize: w });
    return [c.trainBatchSize, c.trainMicroBatchSizePerGpu, c.gradientAccumulationSteps];
  };
  assert.deepEqual(r({ train_batch_size: 24, train_micro_batch_size_per_gpu: 4 }, 3), [24, 4, 2]);
  assert.deepEqual(r({ train_batch_size: 24, gradient_accumulation_steps: 4 }, 3), [24, 2, 4]);
  assert.deepEqual(r({ train_micro_batch_size_per_gpu: 2, gradient_accumulation_steps: 4 }, 3), [24, 2, 4]);
  assert.deepEqual(r({ train_micro_batch_size_per_gpu: 5 }, 2), [10, 5, 1]);
  assert.deepEqual(
    r({ train_batch_size: 12, train_micro_batch_size_per_gpu: 3, gradient_accumulation_steps: 2 }, 2),
    [12, 3, 2],
  );
});

test('batch triple: inconsistency names all values', () => {
  configError(
    () =>
      resolveConfig(
        { train_batch_size: 10, train_micro_batch_size_per_gpu: 3, gradient_accumulation_steps: 2 },
        { worldSize: 2 },
      ),
    'train_batch_size',
    'train_batch_size=10',
    'train_micro_batch_size_per_gpu=3',
    'gradient_accumulation_steps=2',
    'world size=2',
    '= 12',
  );
  configError(
    () => resolveConfig({ train_batch_size: 10, train_micro_batch_size_per_gpu: 3 }, { worldSize: 2 }),
    'train_batch_size',
    'not a whole number',
  );
  configError(() => resolveConfig({}, { worldSize: 2 }), 'train_batch_size', 'no batch size');
  configError(() => resolveConfig({ train_batch_size: 1 }, { worldSize: 0 }), 'worldSize');
});

test('unknown keys: path, allowed keys, did you mean', () => {
  configError(
    () => resolveConfig({ train_batch_size: 8, zero_optimization: { stgae: 2 } }, { worldSize: 1 }),
    'zero_optimization.stgae',
    'Did you mean "stage"?',
    'reduce_bucket_size',
  );
  configError(
    () => resolveConfig({ train_batch_sise: 8 }, { worldSize: 1 }),
    'train_batch_sise',
    'Did you mean "train_batch_size"?',
  );
  configError(
    () =>
      resolveConfig(
        { train_batch_size: 8, zero_optimization: { offload_optimizer: { devise: 'cpu' } } },
        { worldSize: 1 },
      ),
    'zero_optimization.offload_optimizer.devise',
    'Did you mean "device"?',
  );
  configError(
    () =>
      resolveConfig(
        { train_batch_size: 8, optimizer: { type: 'Adam', params: { learning_rate: 1 } } },
        { worldSize: 1 },
      ),
    'optimizer.params.learning_rate',
    'Allowed keys',
    'lr',
  );
  configError(() => resolveConfig({ train_batch_size: 8, xyzzy: 1 }, { worldSize: 1 }), 'xyzzy', 'unknown config key');
});

test('bad values: path, value, what is allowed', () => {
  configError(
    () => resolveConfig({ train_batch_size: 8, zero_optimization: { stage: 4 } }, { worldSize: 1 }),
    'zero_optimization.stage',
    '4',
    '0, 1, 2, 3',
  );
  configError(
    () =>
      resolveConfig(
        { train_batch_size: 8, zero_optimization: { offload_optimizer: { device: 'cpuu' } } },
        { worldSize: 1 },
      ),
    'zero_optimization.offload_optimizer.device',
    '"cpuu"',
    'Did you mean "cpu"?',
  );
  configError(
    () => resolveConfig({ train_batch_size: 8.5 }, { worldSize: 1 }),
    'train_batch_size',
    '8.5',
    'whole number',
  );
  configError(
    () => resolveConfig({ train_batch_size: 8, gradient_clipping: -1 }, { worldSize: 1 }),
    'gradient_clipping',
    '>= 0',
  );
  configError(
    () =>
      resolveConfig({ train_batch_size: 8, optimizer: { type: 'Adam', params: { betas: [0.9] } } }, { worldSize: 1 }),
    'optimizer.params.betas',
    'at least 2',
  );
  configError(
    () =>
      resolveConfig(
        { train_batch_size: 8, optimizer: { type: 'Adam', params: { betas: [0.9, 1.5] } } },
        { worldSize: 1 },
      ),
    'optimizer.params.betas[1]',
    '1.5',
  );
  configError(
    () => resolveConfig({ train_batch_size: 8, fp16: { enabled: 'yes' } }, { worldSize: 1 }),
    'fp16.enabled',
    'boolean',
  );
  configError(
    () => resolveConfig({ train_batch_size: 8, scheduler: { type: 'WarmupDecayLR', params: {} } }, { worldSize: 1 }),
    'scheduler.params.total_num_steps',
    'required',
  );
  configError(() => resolveConfig([1], { worldSize: 1 }), '', 'JSON object');
});

test('sizes like 5e8 are numbers', () => {
  const c = resolveConfig(
    JSON.parse(
      '{"train_batch_size": 8, "zero_optimization": {"reduce_bucket_size": 2e8, "stage3_prefetch_bucket_size": 1.5e7}}',
    ),
    { worldSize: 1 },
  );
  assert.equal(c.zero.reduceBucketSize, 200_000_000);
  assert.equal(c.zero.stage3PrefetchBucketSize, 15_000_000);
});

test('aliases: optimizer and scheduler type case-insensitively, bfloat16, older offload booleans', () => {
  const c = resolveConfig(
    {
      train_batch_size: 8,
      optimizer: { type: 'adam', params: { adam_w_mode: false } },
      scheduler: { type: 'warmuplr' },
      bfloat16: { enabled: true },
      zero_optimization: {
        stage: 3,
        cpu_offload: true,
        cpu_offload_params: true,
        stage3_gather_fp16_weights_on_model_save: true,
      },
    },
    { worldSize: 1 },
  );
  assert.equal(c.optimizer?.type, 'Adam');
  assert.equal(c.optimizer?.type === 'Adam' && c.optimizer.params.adamWMode, false);
  assert.equal(c.scheduler?.type, 'WarmupLR');
  assert.equal(c.bf16.enabled, true);
  assert.equal(c.zero.offloadOptimizer.device, 'cpu');
  assert.equal(c.zero.offloadParam.device, 'cpu');
  assert.equal(c.zero.stage3Gather16bitWeightsOnModelSave, true);
  // DeepSpeed's "Adam" is decoupled (adam_w_mode true) unless told otherwise
  const d = resolveConfig({ train_batch_size: 8, optimizer: { type: 'ADAM' } }, { worldSize: 1 });
  assert.equal(d.optimizer?.type === 'Adam' && d.optimizer.params.adamWMode, true);
  const s = resolveConfig(
    { train_batch_size: 8, optimizer: { type: 'sgd', params: { lr: 0.1, momentum: 0.9 } } },
    { worldSize: 1 },
  );
  assert.deepEqual(s.optimizer, {
    type: 'SGD',
    params: { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false },
  });
  configError(
    () =>
      resolveConfig({ train_batch_size: 8, bf16: { enabled: true }, bfloat16: { enabled: true } }, { worldSize: 1 }),
    'bfloat16',
    'keep only',
  );
});

test('optimizer types: unknown gets did-you-mean, known-unsupported says so', () => {
  configError(
    () => resolveConfig({ train_batch_size: 8, optimizer: { type: 'AdamX' } }, { worldSize: 1 }),
    'optimizer.type',
    'unknown optimizer',
    'Did you mean',
  );
  configError(
    () => resolveConfig({ train_batch_size: 8, optimizer: { type: 'Lamb' } }, { worldSize: 1 }),
    'optimizer.type',
    'does not implement',
    'Adam, AdamW, SGD',
  );
  configError(
    () => resolveConfig({ train_batch_size: 8, scheduler: { type: 'OneCycle' } }, { worldSize: 1 }),
    'scheduler.type',
    'does not implement',
  );
  configError(
    () =>
      resolveConfig({ train_batch_size: 8, optimizer: { type: 'Adam', params: { amsgrad: true } } }, { worldSize: 1 }),
    'optimizer.params.amsgrad',
    'not supported',
  );
});

test('"auto" is refused with a clear message', () => {
  configError(
    () => resolveConfig({ train_batch_size: 'auto' }, { worldSize: 1 }),
    'train_batch_size',
    '"auto"',
    'Hugging Face',
  );
  configError(
    () => resolveConfig({ train_batch_size: 8, zero_optimization: { reduce_bucket_size: 'auto' } }, { worldSize: 1 }),
    'zero_optimization.reduce_bucket_size',
    'fillAuto',
  );
  configError(
    () =>
      resolveConfig({ train_batch_size: 8, optimizer: { type: 'AdamW', params: { betas: 'auto' } } }, { worldSize: 1 }),
    'optimizer.params.betas',
  );
});

test('DeepSpeed features zerots lacks are refused unless disabled', () => {
  configError(
    () => resolveConfig({ train_batch_size: 8, amp: { enabled: true } }, { worldSize: 1 }),
    'amp',
    'does not implement',
  );
  assert.deepEqual(resolveConfig({ train_batch_size: 8, amp: { enabled: false } }, { worldSize: 1 }).ignoredKeys, [
    'amp',
  ]);
  configError(
    () => resolveConfig({ train_batch_size: 8, zero_optimization: { zero_quantized_weights: true } }, { worldSize: 1 }),
    'zero_optimization.zero_quantized_weights',
    'false',
  );
  configError(
    () =>
      resolveConfig(
        { train_batch_size: 8, fp16: { enabled: true, fp16_master_weights_and_grads: true } },
        { worldSize: 1 },
      ),
    'fp16.fp16_master_weights_and_grads',
  );
  configError(
    () =>
      resolveConfig(
        { train_batch_size: 8, zero_optimization: { stage: 3, offload_param: { device: 'nvme' } } },
        { worldSize: 1 },
      ),
    'zero_optimization.offload_param.nvme_path',
  );
  configError(
    () => resolveConfig({ train_batch_size: 8, zero_optimization: true }, { worldSize: 1 }),
    'zero_optimization',
    '"stage"',
  );
});

test('sub_group_size and the nvme swap keys are reported inert only where they do nothing', () => {
  const zero = (oo: object) => ({
    train_batch_size: 2,
    zero_optimization: { stage: 3, sub_group_size: 1e6, offload_optimizer: oo, offload_param: { buffer_count: 5 } },
  });
  const nvme = resolveConfig(zero({ device: 'nvme', nvme_path: '/tmp', buffer_count: 4, pipeline_read: true }), {
    worldSize: 2,
  });
  assert.deepEqual(
    nvme.ignoredKeys.filter((k) => k.startsWith('zero_optimization')),
    ['zero_optimization.offload_param.buffer_count'],
  );
  const cpu = resolveConfig(zero({ device: 'cpu', buffer_count: 4 }), { worldSize: 2 });
  assert.deepEqual(
    cpu.ignoredKeys.filter((k) => k.startsWith('zero_optimization')),
    ['zero_optimization.offload_optimizer.buffer_count', 'zero_optimization.offload_param.buffer_count'],
  );
  const none = resolveConfig(zero({ device: 'none' }), { worldSize: 2 });
  assert.ok(none.ignoredKeys.includes('zero_optimization.sub_group_size'), none.ignoredKeys.join(', '));
  // offload_param nvme streams through buffer_count buffers of buffer_size elements and keeps max_in_cpu on the host
  const param = (device: string) =>
    resolveConfig(
      {
        train_batch_size: 2,
        zero_optimization: {
          stage: 3,
          offload_optimizer: { device: 'cpu' },
          offload_param: {
            device,
            nvme_path: '/tmp',
            buffer_count: 3,
            buffer_size: 1e6,
            max_in_cpu: 0,
            pin_memory: true,
          },
        },
      },
      { worldSize: 2 },
    ).ignoredKeys.filter((k) => k.startsWith('zero_optimization.offload_param'));
  assert.deepEqual(param('nvme'), ['zero_optimization.offload_param.pin_memory']);
  assert.deepEqual(
    param('cpu'),
    ['pin_memory', 'buffer_count', 'buffer_size', 'max_in_cpu'].map((k) => `zero_optimization.offload_param.${k}`),
  );
});
