// initialize() refuses what the engine cannot do, before touching the group, with the key path to change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../../src/tensor/device.js';
import { GPT } from '../../src/nn/gpt.js';
import { initialize } from '../../src/zero/engine.js';
import { ConfigError } from '../../src/errors.js';
import type { ProcessGroup } from '../../src/comm/types.js';
import { GPT_TINY } from '../helpers/lockstep-cases.js';

// Collectives must not be reached: any call throws.
const noComm = new Proxy({ rank: 0, worldSize: 1, transport: 'threads' } as unknown as ProcessGroup, {
  get: (t, k) =>
    k in t
      ? (t as unknown as Record<string | symbol, unknown>)[k]
      : () => {
          throw new Error(`collective ${String(k)} called`);
        },
});

test('initialize refuses unsupported setups with the key to change', () => {
  const device = new Device({ capacityBytes: 8 << 20, kernels: 'js' });
  const model = new GPT(device, GPT_TINY, { materialize: false });
  const base = { train_batch_size: 2, optimizer: { type: 'AdamW', params: { lr: 1e-3 } } };
  const refuses = (config: object, path: string, fragment: string, group: ProcessGroup = noComm) =>
    assert.throws(
      () => initialize({ model, config, group, device }),
      (e: unknown) => e instanceof ConfigError && e.path === path && e.message.includes(fragment),
    );
  refuses(
    { ...base, zero_optimization: { stage: 3, offload_param: { device: 'cpu' } } },
    'zero_optimization.offload_param.device',
    'offload_optimizer',
  );
  refuses(
    { ...base, zero_optimization: { stage: 2, offload_optimizer: { device: 'cpu' } } },
    'zero_optimization.offload_optimizer.device',
    'HostMemory',
  );
  refuses({ train_batch_size: 2 }, 'optimizer', 'add "optimizer"');
  refuses({ ...base, fp16: { enabled: true }, bf16: { enabled: true } }, 'bf16.enabled', 'at most one');
  assert.equal(device.memoryStats().byCategory.param.inUse, 0, 'nothing allocated by refused setups');
});

test('a materialised model is taken over (its values copied, its tensors freed) and trains like an unmaterialised one', async () => {
  const { localProcessGroup } = await import('../../src/comm/local.js');
  const { microBatch, dsConfig } = await import('../helpers/lockstep-cases.js');
  for (const stage of [0, 3] as const) {
    const runs = [true, false].map((materialize) => {
      const device = new Device({ capacityBytes: 16 << 20, kernels: 'js' });
      const model = new GPT(device, GPT_TINY, { materialize });
      const engine = initialize({
        model,
        config: dsConfig({ stage, precision: 'fp32', worldSize: 1, gas: 1, steps: 2, clip: 0, kernels: 'js' }),
        group: localProcessGroup(device.memory),
      });
      const losses = [0, 1].map((s) => {
        const b = microBatch(s, 0, 0, 1);
        return engine.trainBatch([[b.inputs, b.targets]]).loss;
      });
      const params = engine.consolidate().params;
      engine.dispose();
      return { losses, params };
    });
    assert.deepEqual(runs[0].losses, runs[1].losses, `stage ${stage}`);
    assert.deepEqual(runs[0].params, runs[1].params, `stage ${stage}`);
  }
});
