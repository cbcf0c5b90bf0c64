// `zerots experiments` at a tiny size (2 thread ranks, the real spawnWorld, real DeviceOutOfMemoryErrors): each
// method's largest micro-batch trained and the next one ran out of memory, the order DDP < ZeRO-1 <= ZeRO-2 <= ZeRO-3
// < ZeRO-3 + offload holds, every method at one micro-batch trains the same losses, measured communication per step
// equals the step-time model's volume up to bucket padding, Part 2's DDP runs out of memory at micro-batch 1 while
// ZeRO-3 + offload trains, the report files are written (self-contained HTML with SVG charts) and the last line is
// the documented JSON object. Times are printed, never asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXPERIMENT, experiments } from '../../src/cli/experiments.js';
import type { ExperimentOptions } from '../../src/train/experiments.js';
import { stepTime } from '../../src/estimate/step-time.js';

const C = 64;
/**
 * 0.22M parameters, context 16, 9 MiB per rank (2 of them the kernels' scratch); Part 2 twice as deep. The guesses
 * are the values measured when this was written; each search still confirms its guess (it trains, guess + 1 does
 * not) and searches on when it is wrong, so they only save trials.
 */
const TINY: Partial<ExperimentOptions> = {
  base: {
    ...EXPERIMENT.base,
    model: { vocabSize: 256, blockSize: 16, nLayer: 4, nHead: 2, nEmbd: C },
    stage3Prefetch: 12 * C * C + 13 * C,
    deviceBytes: 9 << 20,
  },
  part2Model: { vocabSize: 256, blockSize: 16, nLayer: 8, nHead: 2, nEmbd: C },
  tokens: 256,
  evalSequences: 2,
  equalSteps: 2,
  guesses: { ddp: 7, zero1: 10, zero2: 10, zero3: 11, zero3_offload: 15, part2: 8 },
};

test('experiments: largest micro-batches by real OOM, the order, equal losses, Part 2, report and JSON', async () => {
  const out = mkdtempSync(join(tmpdir(), 'zerots-exp-'));
  const lines: string[] = [];
  try {
    const res = await experiments({ options: TINY, out, progress: false, print: (l) => lines.push(...l.split('\n')) });
    for (const m of res.methods) {
      const at = m.search.trials.find((t) => t.micro === m.maxMicroBatch);
      const next = m.search.trials.find((t) => t.micro === m.maxMicroBatch + 1);
      assert.ok(at?.ok, `${m.method.label}: micro-batch ${m.maxMicroBatch} trained`);
      assert.ok(next && !next.ok && /out of memory/.test(next.oom ?? ''), `${m.method.label}: +1 ran out of memory`);
      assert.ok(Math.max(...m.run.devicePeakBytes) <= TINY.base!.deviceBytes);
      const predicted = stepTime({
        params: m.run.params,
        worldSize: 2,
        stage: m.method.stage,
        tokensPerRank: 1,
        hw: { flops: 1, linkBytesPerSecond: 1, latencySeconds: 0 },
      });
      // stage 3 moves a little less than 3 Psi: the tied embedding the LM head gathers at the end of forward stays
      // gathered for its backward, and parameters under the persistence threshold are never re-gathered
      const ratio = m.run.commBytesPerStep / predicted.commBytesPerRank;
      const [lo, hi] = m.method.stage === 3 ? [0.85, 1.0] : [0.98, 1.02];
      assert.ok(
        ratio >= lo && ratio <= hi,
        `${m.method.label}: comm ${m.run.commBytesPerStep} vs model ${predicted.commBytesPerRank}`,
      );
    }
    const mx = res.methods.map((m) => m.maxMicroBatch);
    assert.ok(mx[0]! < mx[1]! && mx[1]! <= mx[2]! && mx[2]! <= mx[3]! && mx[3]! < mx[4]!, `order: ${mx.join(' ')}`);
    assert.ok(res.equal !== null);
    const ref = res.equal.runs[0]!.losses;
    for (const r of res.equal.runs) assert.deepEqual(r.losses, ref, `${r.label}: same losses as DDP`);
    assert.ok(res.part2.ddpOom !== null && /out of memory/.test(res.part2.ddpOom));
    assert.ok(res.part2.offload.max >= 1);
    const json = JSON.parse(lines[lines.length - 1]!);
    for (const k of ['ddp', 'zero1', 'zero2', 'zero3', 'zero3_offload']) {
      assert.equal(typeof json.experiments[k].max_micro_batch, 'number');
      assert.equal(typeof json.experiments[k].tokens_per_s, 'number');
      assert.equal(typeof json.experiments[k].peak_bytes, 'number');
    }
    assert.equal(json.part2.ddp_oom, true);
    assert.equal(json.part2.zero3_offload_micro_batch, res.part2.offload.max);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.equal((html.match(/<svg/g) ?? []).length, 4);
    assert.doesNotMatch(html, /<script|<link|src="http/);
    assert.ok(existsSync(join(out, 'report.md')) && existsSync(join(out, 'memory.svg')));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
