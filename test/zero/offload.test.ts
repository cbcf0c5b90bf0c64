// Offload changes nothing in the numbers: on the threads transport (2 ranks, wasm kernels), stage 2 and stage 3
// with the optimizer state in host memory (offload "cpu") and in swap files (offload "nvme"), in sub-groups smaller
// than a bucket, stepped by 2 host threads, give the same losses, parameters and Adam moments as the same stage with
// everything on the device, bit for bit (fp32 and bf16). And the offloaded bytes leave the device and appear,
// exactly, in the host memory's and the disk's accounting; the swap files are gone after dispose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnWorld } from '../../src/launch/spawn.js';
import type { LockstepCase } from '../helpers/lockstep-cases.js';
import type { EngineResult } from '../ranks/engine-ranks.js';
import { sameBits } from '../helpers/same-bits.js';

const ranks = new URL('../ranks/engine-ranks.js', import.meta.url);
const SUB_GROUP = 112; // elements: several sub-groups per rank, boundaries inside parameters and buckets

// nvme: the swap I/O runs on 2 worker threads, reads ahead and writes behind ([Note: a wake-up is not a job]);
// test/zero/nvme-store-stress.test.ts stresses the ring alone.

for (const placement of ['cpu', 'nvme'] as const)
  for (const precision of ['fp32', 'bf16'] as const) {
    const name = `offload ${placement}, stages 2 and 3, ${precision}`;
    test(`${name}: params and moments equal no offload bit for bit; bytes accounted`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'zerots-offload-test-'));
      try {
        const base = { precision, worldSize: 2, gas: 1, steps: 3, clip: 0.5, kernels: 'wasm' } as const;
        const cases: LockstepCase[] = [];
        for (const stage of [2, 3] as const) {
          const s = { ...base, stage, strict3: stage === 3 };
          cases.push(s);
          if (placement === 'cpu')
            cases.push({ ...s, offload: true, subGroup: SUB_GROUP, offloadThreads: 2, offloadParam: stage === 3 });
          else
            cases.push({
              ...s,
              offload: true,
              subGroup: SUB_GROUP,
              offloadThreads: 2,
              nvme: { path: dir, bufferCount: stage === 2 ? 2 : 3, pipelineRead: true, pipelineWrite: stage === 2 },
            });
        }
        const res = await spawnWorld<EngineResult[]>({ worldSize: 2, module: ranks, fn: 'trainMany', args: cases });
        for (let i = 0; i < cases.length; i += 2) {
          const stage = cases[i]!.stage;
          for (const j of [placement === 'cpu' ? 1 : 2]) {
            const at = 1; // the offloaded case follows its reference
            const tag = `stage ${stage} ${precision} ${placement}`;
            sameBits(res[0]![i + at]!, res[0]![i]!, tag);
            for (let rank = 0; rank < 2; rank++) {
              const r = res[rank]![i + at]!;
              const n = r.layout.shardNumel;
              const stateBytes = 3 * n * 4; // fp32 master, m, v
              assert.equal(r.memory.afterInit.optimizer, 0, `${tag}: no optimizer state on the device`);
              assert.equal(r.memory.afterStep.optimizer, 0, `${tag}: none after the steps either`);
              assert.equal(r.memory.afterStep.workspace, 0, `${tag}: no fp32 gradient workspace on the device`);
              // gradients: each bucket's reduced chunk goes to the host at once; the device keeps only staging buckets
              const eb = precision === 'fp32' ? 4 : 2;
              assert.equal(r.memory.afterStep.grad, 0, `${tag}: no gradient shard on the device`);
              assert.equal(r.hostByCategory.grad, n * eb, `${tag}: the gradient shard in host memory, exactly`);
              assert.equal(r.gradPeak, res[rank]![i]!.gradPeak - n * eb, `${tag}: device gradient peak = staging only`);
              const off = r.offload!;
              assert.equal(off.subGroups, Math.ceil(n / SUB_GROUP), `${tag}: sub-groups of ${SUB_GROUP} elements`);
              assert.equal(r.hostByCategory.optimizer!, off.hostBytes, `${tag}: host accounting`);
              if (j === 1) {
                assert.equal(off.hostBytes, stateBytes, `${tag}: the whole state in host memory, exactly`);
                assert.equal(off.diskBytes, 0);
              } else {
                const buffers = Math.min(cases[i + at]!.nvme!.bufferCount, off.subGroups);
                assert.equal(off.hostBytes, buffers * 3 * SUB_GROUP * 4, `${tag}: host holds buffer_count sub-groups`);
                assert.equal(off.diskBytes, stateBytes, `${tag}: the whole state on disk, exactly`);
                assert.equal(r.swap!.bytes, stateBytes, `${tag}: swap files on disk hold the state`);
                assert.equal(r.swap!.files, off.subGroups, `${tag}: one swap file per sub-group`);
                assert.ok(r.swap!.removed, `${tag}: swap files removed at dispose`);
              }
              if (stage === 3 && j === 1) assert.equal(r.memory.afterStep.param, 0, `${tag}: param shards on the host`);
            }
          }
        }
        assert.deepEqual(readdirSync(dir), [], 'nothing left under nvme_path');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
