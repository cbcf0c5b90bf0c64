// offload_param "nvme" streams: the offloaded step writes the 16-bit parameters through buffer_count host windows
// of buffer_size elements (their write backs queued while the next piece steps), never the whole shard; a
// prefetched gather's chunk read is submitted at the prefetch and waited for at a later acquire; max_in_cpu keeps a
// prefix of whole buckets in host memory. None of it changes a bit (2 thread ranks, wasm kernels, prefetching
// stage 3, against no offload and offload_param cpu), and the host peak during the step is the cpu placement's
// minus exactly the shard plus exactly the windows.
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
const WINDOWS = 2;
const WINDOW = 32; // elements: the tiny GPT's shard is ~40 of them, sub-groups 112 (3-4 pieces each)

for (const precision of ['fp32', 'bf16'] as const)
  test(`offload_param nvme ${precision}: windows, prefetched reads and max_in_cpu change no bit; the step's host peak`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zerots-param-stream-test-'));
    try {
      // prefetching 400 elements ahead (along step 1's trace, in steps 2 and 3), nothing persistent or reused
      const ref: LockstepCase = {
        precision,
        worldSize: 2,
        gas: 1,
        steps: 3,
        clip: 0.5,
        kernels: 'wasm',
        stage: 3,
        stage3: { prefetch: 400 },
        overlap: true, // async all-gathers, progressed by the transport's thread
      };
      const s = { ...ref, offload: true, subGroup: 112, offloadThreads: 2 };
      const cases: LockstepCase[] = [
        ref,
        { ...s, offloadParam: true },
        { ...s, paramNvme: dir, paramBuffers: { count: WINDOWS, size: WINDOW } },
        { ...s, paramNvme: dir, paramBuffers: { count: 3, size: WINDOW, maxInCpu: 400 } },
      ];
      const res = await spawnWorld<EngineResult[]>({ worldSize: 2, module: ranks, fn: 'trainMany', args: cases });
      const eb = precision === 'fp32' ? 4 : 2;
      for (let rank = 0; rank < 2; rank++) {
        const [none, cpu, streamed, kept] = res[rank]!;
        if (rank === 0)
          for (const [r, tag] of [
            [streamed!, 'windows'],
            [kept!, 'max_in_cpu'],
          ] as const) {
            sameBits(r, none!, `${precision} ${tag} vs no offload`);
            sameBits(r, cpu!, `${precision} ${tag} vs offload_param cpu`);
          }
        const n = streamed!.layout.shardNumel;
        assert.ok(n > 4 * WINDOW, `the shard (${n} elements) is several windows long`);
        // the step's host peak: the cpu shard (n elements, all the time) replaced by the two windows, exactly
        assert.equal(cpu!.hostStepPeak.param, n * eb, 'offload_param cpu: the whole shard in host memory');
        assert.equal(streamed!.hostStepPeak.param, WINDOWS * WINDOW * eb, 'nvme: buffer_count windows, no more');
        assert.equal(
          streamed!.hostStepPeak.total,
          cpu!.hostStepPeak.total! - n * eb + WINDOWS * WINDOW * eb,
          'the whole host peak during the step: lower by the shard, plus the windows, exactly',
        );
        assert.equal(streamed!.hostAfterStep.param ?? 0, 0, 'between steps no window is held');
        const io = streamed!.fetch!.shardIO!;
        assert.ok(
          io.writes > 2 * 3 && io.writesOverlapped > 0,
          `writes queued behind the next piece: ${JSON.stringify(io)}`,
        );
        assert.ok(
          io.readsAsync > 0 && io.readsAhead > 0,
          `prefetched reads in flight to a later acquire: ${JSON.stringify(io)}`,
        );
        assert.ok(io.readsAhead <= io.readsAsync && io.readsAsync <= io.reads);
        // max_in_cpu 400: a prefix of whole buckets stays in host memory, the rest on disk, exactly
        const k = kept!.fetch!.shard;
        assert.ok(k.hostBytes > 0 && k.diskBytes > 0, `both parts: ${JSON.stringify(k)}`);
        assert.ok(k.hostBytes <= 400 * eb);
        assert.equal(k.hostBytes + k.diskBytes, n * eb, 'the prefix and the file hold the shard, exactly');
        assert.equal(kept!.hostAfterStep.param, k.hostBytes, 'between steps: the prefix only');
        assert.equal(kept!.paramSwap!.bytes, k.diskBytes, 'the swap file holds the rest');
      }
      assert.deepEqual(readdirSync(dir), [], 'nothing left under nvme_path');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
