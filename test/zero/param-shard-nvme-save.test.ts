// offload_param "nvme": a checkpoint save only reads the parameter shard, so it writes nothing back to the swap file
// (the shard's I/O counters: bytes written unchanged, bytes read grown by the 16-bit parameters saved); a load then
// writes the shard, and the loaded run's next losses equal the saved run's, bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localProcessGroup } from '../../src/comm/local.js';
import { GPT } from '../../src/nn/gpt.js';
import { Device } from '../../src/tensor/device.js';
import { HostMemory } from '../../src/tensor/host.js';
import { initialize } from '../../src/zero/engine.js';
import { dsConfig, GPT_TINY, microBatch } from '../helpers/lockstep-cases.js';

test('offload_param nvme: a checkpoint save writes nothing to the swap file; a load resumes bit for bit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-param-nvme-save-'));
  const ckpt = mkdtempSync(join(tmpdir(), 'zerots-param-nvme-ckpt-'));
  try {
    const c = { stage: 3, precision: 'bf16', worldSize: 1, gas: 1, steps: 3, clip: 0, kernels: 'js' } as const;
    const make = () => {
      const device = new Device({ capacityBytes: 16 << 20, kernels: 'js' });
      const host = new HostMemory({ arenaBytes: 4 << 20, kernels: 'js', name: 'host0' });
      return initialize({
        model: new GPT(device, GPT_TINY, { materialize: false }),
        config: dsConfig({ ...c, offload: true, paramNvme: dir }),
        group: localProcessGroup(device.memory),
        device,
        host,
      });
    };
    const step = (e: ReturnType<typeof make>, s: number) => {
      const b = microBatch(s, 0, 0, 1);
      return e.trainBatch([[b.inputs, b.targets]]).loss;
    };
    const a = make();
    step(a, 0);
    const before = a.fetchStats()!.shardIO!;
    a.saveCheckpoint(ckpt);
    const after = a.fetchStats()!.shardIO!;
    assert.equal(after.written, before.written, 'no byte written back by the save');
    assert.equal(after.writes, before.writes);
    assert.equal(after.read - before.read, a.plan.layout.shardNumel * 2, 'the 16-bit shard read once');
    const want = [step(a, 1), step(a, 2)];
    a.dispose();
    const b = make();
    b.loadCheckpoint(ckpt);
    assert.ok(b.fetchStats()!.shardIO!.written >= b.plan.layout.shardNumel * 2, 'the load writes the shard');
    const got = [step(b, 1), step(b, 2)];
    assert.deepEqual(new Float32Array(got).buffer, new Float32Array(want).buffer, 'losses after the load');
    b.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(ckpt, { recursive: true, force: true });
  }
});
