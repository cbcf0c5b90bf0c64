// offload_param "nvme" on one rank: a missing nvme_path is refused before anything is allocated, naming
// offload_param.nvme_path; the free-space check counts exactly the bytes the swap files then hold (the shard's,
// plus the optimizer's when both share the directory); between steps no host memory holds the shard, and each
// gather reads its chunk back from the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localProcessGroup } from '../../src/comm/local.js';
import { OffloadError } from '../../src/errors.js';
import { GPT } from '../../src/nn/gpt.js';
import { Device } from '../../src/tensor/device.js';
import { HostMemory } from '../../src/tensor/host.js';
import { initialize } from '../../src/zero/engine.js';
import { paramSwapBytes } from '../../src/zero/make-param-shard.js';
import { policyFromConfig } from '../../src/config/policy.js';
import { dsConfig, GPT_TINY, microBatch } from '../helpers/lockstep-cases.js';

test('offload_param nvme: nvme_path checked first; the check counts the bytes on disk; no host bytes between steps', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-param-nvme-one-'));
  try {
    const device = new Device({ capacityBytes: 16 << 20, kernels: 'js' });
    const host = new HostMemory({ arenaBytes: 4 << 20, kernels: 'js', name: 'host0' });
    const c = {
      stage: 3,
      precision: 'bf16',
      worldSize: 1,
      gas: 1,
      steps: 2,
      clip: 0,
      kernels: 'js',
      offload: true,
    } as const;
    const missing = join(dir, 'missing');
    assert.throws(
      () =>
        initialize({
          model: new GPT(device, GPT_TINY, { materialize: false }),
          config: dsConfig({ ...c, paramNvme: missing }),
          group: localProcessGroup(device.memory),
          device,
          host,
        }),
      (e: unknown) => e instanceof OffloadError && e.path === missing && /offload_param\.nvme_path/.test(e.message),
    );
    assert.equal(host.memoryStats().inUseBytes, 0, 'nothing allocated on the host by the refused setup');
    for (const shared of [false, true]) {
      const config = dsConfig({
        ...c,
        paramNvme: dir,
        ...(shared ? { nvme: { path: dir, bufferCount: 2, pipelineRead: false, pipelineWrite: false } } : {}),
      });
      const engine = initialize({
        model: new GPT(device, GPT_TINY, { materialize: false }),
        config,
        group: localProcessGroup(device.memory),
        device,
        host,
      });
      const need = paramSwapBytes(policyFromConfig(engine.config), engine.plan, engine.optimizer);
      const disk = engine.fetchStats()!.shard.diskBytes + engine.offloadStats()!.diskBytes;
      assert.deepEqual(need, { bytes: disk, shared }, `shared ${shared}: the check counts the swap files' bytes`);
      assert.equal(engine.fetchStats()!.shard.diskBytes, engine.plan.layout.shardNumel * 2);
      for (let s = 0; s < 2; s++) {
        const b = microBatch(s, 0, 0, 1);
        engine.trainBatch([[b.inputs, b.targets]]);
        assert.equal(host.memoryStats().byCategory.param.inUse, 0, `step ${s}: no shard bytes in host memory`);
        assert.equal(engine.fetchStats()!.shard.hostBytes, 0);
      }
      engine.dispose();
      assert.deepEqual(readdirSync(dir), [], 'swap files removed at dispose');
    }
    assert.equal(host.memoryStats().inUseBytes, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
