// `zerots experiments` at a tiny size (2 thread ranks, the real spawnWorld, real DeviceOutOfMemoryErrors): each
// method's largest micro-batch trained and the next one ran out of memory, the order DDP < ZeRO-1 <= ZeRO-2 <= ZeRO-3
// < ZeRO-3 + offload holds, every method at one micro-batch trains the same losses, measured communication per step
// equals the step-time model's volume up to bucket padding, Part 2's DDP runs out of memory at micro-batch 1 while
// ZeRO-3 + offload trains, the report files are written (self-contained HTML with SVG charts) and the last line is
// the documented JSON object. Times are printed, never asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXPERIMENT, experiments, nvmeFolder } from '../../src/cli/experiments.js';
import type { ExperimentOptions } from '../../src/train/experiments.js';
import { stepTime } from '../../src/estimate/step-time.js';
import { pinnedCapacity, predictLargest } from '../../src/train/experiment-predict.js';
import { METHODS } from '../../src/train/methods.js';

const C = 32;
/**
 * 52K parameters, context 32, 5 MiB per rank (2 of them the kernels' scratch); Part 2 twice as deep. Chosen with the
 * estimator so that the order holds with the fragmentation allowance and without it (3 5 5 5 7 and 4 6 6 6 8).
 */
const TINY: Partial<ExperimentOptions> = {
  base: {
    ...EXPERIMENT.base,
    model: { vocabSize: 256, blockSize: 32, nLayer: 4, nHead: 2, nEmbd: C },
    stage3Prefetch: 12 * C * C + 13 * C,
    // a bucket well below the model, or stage 2's gradient bucket holds every gradient
    bucketElements: 4 * C * C,
    deviceBytes: 5 << 20,
  },
  part2Model: { vocabSize: 256, blockSize: 32, nLayer: 8, nHead: 2, nEmbd: C },
  tokens: 256,
  evalSequences: 2,
  equalSteps: 2,
};

test('experiments: largest micro-batches by real OOM, the order, equal losses, Part 2, report and JSON', async () => {
  const out = mkdtempSync(join(tmpdir(), 'zerots-exp-'));
  const lines: string[] = [];
  try {
    // the tiny model has no pinned capacity ([Note: a pinned capacity]): its capacity as given; the NVMe row's swap
    // files in a fresh temp folder
    const res = await experiments({
      options: TINY,
      out,
      progress: false,
      exactCapacity: true,
      print: (l) => lines.push(...l.split('\n')),
    });
    for (const m of res.methods) {
      const at = m.search.trials.find((t) => t.micro === m.maxMicroBatch);
      const next = m.search.trials.find((t) => t.micro === m.maxMicroBatch + 1);
      assert.ok(at?.ok, `${m.method.label}: micro-batch ${m.maxMicroBatch} trained`);
      assert.ok(next && !next.ok && /out of memory/.test(next.oom ?? ''), `${m.method.label}: +1 ran out of memory`);
      assert.ok(Math.max(...m.run.devicePeakBytes) <= TINY.base!.deviceBytes);
      // the estimator's peak at the measured micro-batch (requested bytes; the whole run, evaluation included), within
      // issue 9's 5%
      const pc = m.peakCheck;
      assert.ok(
        Math.abs(pc.predictedBytes - pc.measuredBytes) <= 0.05 * pc.measuredBytes,
        `${m.method.label}: predicted peak ${pc.predictedBytes} vs measured ${pc.measuredBytes}`,
      );
      console.log(`${m.method.label}: largest ${m.maxMicroBatch}, predicted ${m.predicted}`);
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
      // (less); each parameter starts aligned (src/zero/partition.ts), and on this d = 32 model the padding of its
      // many 32-element vectors adds a few % (more)
      const [lo, hi] = m.method.stage === 3 ? [0.85, 1.06] : [0.98, 1.02];
      assert.ok(
        ratio >= lo && ratio <= hi,
        `${m.method.label}: comm ${m.run.commBytesPerStep} vs model ${predicted.commBytesPerRank}`,
      );
    }
    // ZeRO-3 + NVMe: the device holds what it holds under CPU offload, and the swapped step computes the same bits
    const nv = res.methods.find((m) => m.method.key === 'zero3_nvme');
    const cpu = res.methods.find((m) => m.method.key === 'zero3_offload')!;
    assert.ok(nv !== undefined, 'the NVMe row ran');
    assert.equal(nv.maxMicroBatch, cpu.maxMicroBatch);
    assert.deepEqual(nv.run.losses, cpu.run.losses);
    const mx = res.methods.slice(0, 5).map((m) => m.maxMicroBatch);
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
      assert.equal(typeof json.experiments[k].predicted_micro_batch, 'number');
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

test("experiments: the shipped capacity is pinned, and the predictions follow the issue's order", () => {
  // estimator only: at EXPERIMENT's capacity every predicted largest micro-batch is the same with the fragmentation
  // allowance and without it, so the measured ones (npm start) must equal them whatever the allocator's holes
  const b = EXPERIMENT.base;
  assert.equal(pinnedCapacity(b, EXPERIMENT.part2Model), b.deviceBytes);
  const p1 = METHODS.map((m) => predictLargest(b, m));
  assert.deepEqual(
    p1,
    METHODS.map((m) => predictLargest(b, m, b.model, 0)),
  );
  assert.ok(p1[0]! >= 1 && p1[0]! < p1[1]! && p1[1]! <= p1[2]! && p1[2]! <= p1[3]! && p1[3]! < p1[4]!, p1.join(' '));
  assert.equal(predictLargest(b, METHODS[0]!, EXPERIMENT.part2Model), 0);
  assert.ok(predictLargest(b, METHODS[4]!, EXPERIMENT.part2Model) >= 1);
});

test('experiments: the NVMe row is skipped with a line when its folder is not writable', () => {
  const out = mkdtempSync(join(tmpdir(), 'zerots-exp-nvme-'));
  try {
    const bad = join(out, 'not-a-dir');
    writeFileSync(bad, '');
    const r = nvmeFolder(join(bad, 'swap'));
    assert.equal(r.path, null);
    assert.match(r.note ?? '', /ZeRO-3 \+ NVMe skipped: no writable folder/);
    const ok = nvmeFolder(join(out, 'swap'));
    assert.equal(ok.path, join(out, 'swap'));
    assert.equal(ok.owned, false);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
