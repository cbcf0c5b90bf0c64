// offload_param "nvme" changes nothing in the numbers: on the threads transport (2 ranks, wasm kernels), stage 3
// with the parameter shard in a swap file gives the same losses, parameters and Adam moments as the shard in host
// memory (offload_param "cpu") and as no offload at all, bit for bit (fp32 and bf16), with the optimizer state in
// host memory and in swap files sharing the directory (also with aio.thread_count 3 and block_size 1 KiB). And the
// shard's bytes leave host memory between steps and appear, exactly, in the disk accounting and on disk; the swap
// file is gone after dispose.
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
const SUB_GROUP = 112;

for (const precision of ['fp32', 'bf16'] as const)
  test(`offload_param nvme, stage 3 ${precision}: equal to offload_param cpu and to no offload; bytes on disk`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zerots-param-nvme-test-'));
    try {
      const ref: LockstepCase = { precision, worldSize: 2, gas: 1, steps: 3, clip: 0.5, kernels: 'wasm', stage: 3 };
      const s = { ...ref, strict3: true, offload: true, subGroup: SUB_GROUP, offloadThreads: 2 };
      const nvme = { path: dir, bufferCount: 2, pipelineRead: true, pipelineWrite: true };
      const cases: LockstepCase[] = [
        { ...ref, strict3: true },
        { ...s, offloadParam: true },
        { ...s, paramNvme: dir },
        { ...s, paramNvme: dir, nvme }, // the optimizer's swap files in the same directory
        { ...s, paramNvme: dir, nvme, aio: { threadCount: 3, blockSize: 1024 } }, // 3 I/O threads, 1 KiB calls
      ];
      const res = await spawnWorld<EngineResult[]>({ worldSize: 2, module: ranks, fn: 'trainMany', args: cases });
      const eb = precision === 'fp32' ? 4 : 2;
      for (let rank = 0; rank < 2; rank++) {
        const [none, cpu, onDisk, both, aio] = res[rank]!;
        for (const [r, tag] of [
          [onDisk!, 'param nvme'],
          [both!, 'param nvme, optimizer nvme'],
          [aio!, 'param nvme, optimizer nvme, aio 3 threads 1 KiB blocks'],
        ] as const) {
          if (rank === 0) {
            // rank 0 reports the consolidated values
            sameBits(r, cpu!, `${precision} ${tag} vs param cpu`);
            sameBits(r, none!, `${precision} ${tag} vs no offload`);
          }
          const n = r.layout.shardNumel;
          assert.equal(r.memory.afterStep.param, 0, `${tag}: no parameter shard on the device`);
          assert.deepEqual(r.fetch!.shard, { hostBytes: 0, diskBytes: n * eb }, `${tag}: the shard on disk, exactly`);
          // host memory after the steps: the cpu case's minus exactly the shard (and nvme optimizer state's share)
          assert.equal(cpu!.hostAfterStep.param, n * eb, `${tag}: the cpu shard is in host memory`);
          assert.equal(r.hostAfterStep.param ?? 0, 0, `${tag}: the nvme shard is not`);
          const disk = r.fetch!.shard.diskBytes + r.offload!.diskBytes; // one directory holds both
          assert.equal(r.paramSwap!.bytes, disk, `${tag}: the swap files hold the accounted bytes, exactly`);
          assert.equal(r.paramSwap!.files, 1 + (r.offload!.diskBytes > 0 ? r.offload!.subGroups : 0), `${tag}: files`);
          assert.ok(r.paramSwap!.removed, `${tag}: swap files removed at dispose`);
        }
        assert.deepEqual(cpu!.fetch!.shard, { hostBytes: cpu!.layout.shardNumel * eb, diskBytes: 0 });
      }
      assert.deepEqual(readdirSync(dir), [], 'nothing left under nvme_path');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
