// commOptionsFor: the scratch is a 'comm' allocation of the device (accounted, freed by dispose), the progress thread
// follows overlap_comm (DeepSpeed's default: on for stage 3 only) unless overridden, bad sizes are ConfigErrors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../../src/tensor/device.js';
import { ConfigError } from '../../src/errors.js';
import { commOptionsFor, DEFAULT_COMM_SCRATCH_BYTES } from '../../src/zero/comm-options.js';

const cfg = (stage: number, overlap?: boolean) => ({
  train_micro_batch_size_per_gpu: 2,
  optimizer: { type: 'AdamW', params: { lr: 1e-3 } },
  zero_optimization: { stage, ...(overlap === undefined ? {} : { overlap_comm: overlap }) },
});

test('commOptionsFor: scratch accounted as comm, progress thread from overlap_comm, dispose frees', () => {
  const device = new Device({ capacityBytes: 8 << 20, kernels: 'js' });
  const before = device.memoryStats().byCategory.comm.inUse;
  const c = commOptionsFor(device, cfg(2), { worldSize: 2 });
  assert.equal(device.memoryStats().byCategory.comm.inUse - before, DEFAULT_COMM_SCRATCH_BYTES);
  assert.deepEqual(c.options.scratch, { ptr: c.scratch.ptr, bytes: DEFAULT_COMM_SCRATCH_BYTES });
  assert.equal(c.options.progressThread, false);
  c.dispose();
  c.dispose();
  assert.equal(device.memoryStats().byCategory.comm.inUse, before);
  for (const [stage, overlap, want] of [
    [3, undefined, true],
    [2, true, true],
    [3, false, false],
  ] as const) {
    const o = commOptionsFor(device, cfg(stage, overlap), { worldSize: 2, scratchBytes: 256 << 10, timeoutMs: 5000 });
    assert.equal(o.options.progressThread, want, `stage ${stage} overlap ${overlap}`);
    assert.equal(o.options.timeoutMs, 5000);
    o.dispose();
  }
  assert.equal(commOptionsFor(device, cfg(3), { worldSize: 2, progressThread: false }).options.progressThread, false);
  assert.throws(() => commOptionsFor(device, cfg(2), { worldSize: 2, scratchBytes: 4096 }), ConfigError);
});
