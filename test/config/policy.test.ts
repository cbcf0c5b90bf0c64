import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/config/resolve.js';
import { MAX_PARAM_BUFFER_ELEMENTS, policyFromConfig } from '../../src/config/policy.js';
import { ConfigError } from '../../src/errors.js';

const policy = (zero: object, extra: object = {}) =>
  policyFromConfig(resolveConfig({ train_batch_size: 4, zero_optimization: zero, ...extra }, { worldSize: 2 }));

test('each stage names its composed parts', () => {
  const parts = [0, 1, 2, 3].map((stage) => {
    const p = policy({ stage });
    return [p.gradientReducer.kind, p.parameterFetcher.kind, p.optimizerState.partitioned, p.optimizerState.placement];
  });
  assert.deepEqual(parts, [
    ['allreduce', 'replicated', false, 'device'],
    ['reduce-scatter-after-backward', 'allgather-after-step', true, 'device'],
    ['reduce-scatter-during-backward', 'allgather-after-step', true, 'device'],
    ['reduce-scatter-during-backward', 'gather-per-module', true, 'device'],
  ]);
  assert.equal(policy({ stage: 1, reduce_scatter: false }).gradientReducer.kind, 'allreduce');
  assert.ok(Object.isFrozen(policy({ stage: 3 }).parameterFetcher));
});

test('precision and loss scaling', () => {
  assert.equal(policy({}).precision, 'fp32');
  assert.equal(policy({}, { bf16: { enabled: true } }).precision, 'bf16');
  assert.equal(policy({}, { bf16: { enabled: true } }).lossScaling, 'none');
  assert.equal(policy({}, { fp16: { enabled: true } }).lossScaling, 'dynamic');
  assert.equal(policy({}, { fp16: { enabled: true, loss_scale: 128 } }).lossScaling, 'static');
});

test('offload placements', () => {
  const p = policy({ stage: 3, offload_optimizer: { device: 'cpu' }, offload_param: { device: 'cpu' } });
  assert.equal(p.optimizerState.placement, 'host');
  assert.equal(p.paramShardPlacement, 'host');
  assert.equal(policy({ stage: 2, offload_optimizer: { device: 'cpu' } }).paramShardPlacement, 'device');
  assert.equal(p.paramShardNvmePath, null);
  const pn = policy({
    stage: 3,
    offload_optimizer: { device: 'cpu' },
    offload_param: { device: 'nvme', nvme_path: '/tmp/params' },
  });
  assert.equal(pn.paramShardPlacement, 'nvme');
  assert.equal(pn.paramShardNvmePath, '/tmp/params');
  // DeepSpeed's defaults: 5 buffers of 1e8 elements, 1e9 elements kept in host memory; one I/O thread, no block cap
  const io = { ioThreads: 1, blockBytes: null };
  assert.deepEqual(pn.paramShardNvme, { bufferCount: 5, bufferElements: 1e8, maxInCpu: 1e9, ...io });
  assert.equal(p.paramShardNvme, null);
  const big = policy({
    stage: 3,
    offload_optimizer: { device: 'cpu' },
    offload_param: { device: 'nvme', nvme_path: '/tmp', buffer_count: 2, buffer_size: 1e10, max_in_cpu: 0 },
  });
  const bigWant = { bufferCount: 2, bufferElements: MAX_PARAM_BUFFER_ELEMENTS, maxInCpu: 0, ...io };
  assert.deepEqual(big.paramShardNvme, bigWant);
  const n = policy({
    stage: 2,
    sub_group_size: 0,
    offload_optimizer: { device: 'nvme', nvme_path: '/tmp', buffer_count: 3, pipeline_read: true },
  }).optimizerState;
  assert.equal(n.placement, 'nvme');
  assert.equal(n.subGroupElements, 0);
  const nvmeWant = { path: '/tmp', bufferCount: 3, pipelineRead: true, pipelineWrite: false };
  assert.deepEqual(n.nvme, { ...nvmeWant, ioThreads: 2, blockBytes: null });
  // aio.thread_count and aio.block_size reach both swaps (the optimizer's and the parameter shard's)
  const aio = policy(
    {
      stage: 3,
      offload_optimizer: { device: 'nvme', nvme_path: '/tmp', buffer_count: 3, pipeline_read: true },
      offload_param: { device: 'nvme', nvme_path: '/tmp' },
    },
    { aio: { thread_count: 3, block_size: 65536, queue_depth: 8 } },
  );
  assert.deepEqual(aio.optimizerState.nvme, { ...nvmeWant, ioThreads: 3, blockBytes: 65536 });
  assert.deepEqual([aio.paramShardNvme!.ioThreads, aio.paramShardNvme!.blockBytes], [3, 65536]);
  assert.equal(policy({ stage: 2 }).optimizerState.subGroupElements, 1e9, "DeepSpeed's default sub_group_size");
});

test('unsupported combinations are refused with what to change', () => {
  const refuses = (fn: () => unknown, path: string, hint: string) =>
    assert.throws(fn, (e: unknown) => e instanceof ConfigError && e.path === path && e.message.includes(hint));
  refuses(() => policy({}, { fp16: { enabled: true }, bf16: { enabled: true } }), 'bf16.enabled', 'at most one');
  refuses(
    () => policy({ stage: 2, offload_param: { device: 'cpu' } }),
    'zero_optimization.offload_param.device',
    'Set "stage": 3',
  );
  refuses(
    () => policy({ stage: 0, offload_optimizer: { device: 'cpu' } }),
    'zero_optimization.offload_optimizer.device',
    'stage 1, 2 or 3',
  );
  refuses(
    () => policy({ stage: 3, offload_param: { device: 'cpu' } }),
    'zero_optimization.offload_param.device',
    'offload_optimizer',
  );
  refuses(
    () => policy({ stage: 2, offload_optimizer: { device: 'nvme', nvme_path: '/tmp', buffer_count: 1 } }),
    'zero_optimization.offload_optimizer.buffer_count',
    '2 or more',
  );
  refuses(() => policy({ stage: 2, reduce_scatter: false }), 'zero_optimization.reduce_scatter', 'stage 1');
  refuses(
    () => policy({ stage: 2, offload_optimizer: { device: 'cpu', ratio: 0.5 } }),
    'zero_optimization.offload_optimizer.ratio',
    'partial',
  );
});
