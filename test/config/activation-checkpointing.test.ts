// DeepSpeed's activation_checkpointing block: cpu_checkpointing acts, the rest is accepted with a warning saying
// why it has no effect, bad keys and values are ConfigErrors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/config/index.js';

const base = { train_micro_batch_size_per_gpu: 2 };

test('activation_checkpointing: cpu_checkpointing acts; partition/contiguous/sync/profile/number warn; errors named', () => {
  const none = resolveConfig(base, { worldSize: 1 }).activationCheckpointing;
  assert.deepEqual([none.present, none.cpuCheckpointing, none.warnings.length], [false, false, 0]);
  const ac = resolveConfig(
    {
      ...base,
      activation_checkpointing: {
        partition_activations: true,
        cpu_checkpointing: true,
        number_checkpoints: 4,
        contiguous_memory_optimization: true,
        synchronize_checkpoint_boundary: true,
        profile: true,
      },
    },
    { worldSize: 2 },
  );
  assert.equal(ac.activationCheckpointing.cpuCheckpointing, true);
  assert.equal(ac.activationCheckpointing.numberCheckpoints, 4);
  assert.ok(!ac.ignoredKeys.includes('activation_checkpointing'), 'no longer an ignored key');
  for (const x of ac.activationCheckpointing.warnings)
    assert.ok(ac.warnings.includes(x), 'printed with the config notices');
  const w = ac.activationCheckpointing.warnings.join('\n');
  for (const k of [
    'partition_activations',
    'number_checkpoints',
    'contiguous_memory_optimization',
    'synchronize_checkpoint_boundary',
    'profile',
  ])
    assert.match(w, new RegExp(`activation_checkpointing\\.${k}.*no effect`), k);
  const quiet = resolveConfig(
    { ...base, activation_checkpointing: { partition_activations: false } },
    { worldSize: 1 },
  );
  assert.equal(quiet.activationCheckpointing.warnings.length, 0, 'false says nothing');
  assert.throws(
    () => resolveConfig({ ...base, activation_checkpointing: { cpu_checkpointin: true } }, { worldSize: 1 }),
    { name: 'ConfigError', message: /cpu_checkpointin.*cpu_checkpointing/s },
  );
  assert.throws(
    () => resolveConfig({ ...base, activation_checkpointing: { cpu_checkpointing: 'yes' } }, { worldSize: 1 }),
    { name: 'ConfigError', message: /must be true or false/ },
  );
  assert.throws(
    () => resolveConfig({ ...base, activation_checkpointing: { number_checkpoints: 0 } }, { worldSize: 1 }),
    { name: 'ConfigError', message: /positive integer/ },
  );
});
