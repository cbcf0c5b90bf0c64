// The demo and the ZeRO benchmark at a tiny size on 2 thread ranks (the real spawnWorld and threads transport):
// every stage trains the same losses; the first loss equals a single-process forward of the global batch with the
// js reference kernels; measured model states and communication per step equal the padded closed forms of
// src/estimate; the printed table and the benchmark's JSON last line have their documented shape. Times are
// printed by the programs but never asserted.
import { engineLine } from '../../src/zero/backends.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { demo } from '../../src/cli/demo.js';
import { benchZero } from '../../src/cli/bench-zero.js';
import { benchRecord } from '../../src/cli/tables.js';
import type { StageRunOptions } from '../../src/train/stages.js';
import type { RunReport } from '../../src/train/report.js';
import { commBytesPerRankPadded } from '../../src/estimate/index.js';
import type { BucketedLayout } from '../../src/zero/partition.js';
import { Device } from '../../src/tensor/device.js';
import { Tape } from '../../src/autograd/tape.js';
import { GPT } from '../../src/nn/gpt.js';
import { DistributedSampler, loadCorpus, trainValSplit } from '../../src/data/index.js';
import { median, pairedRatio } from '../../src/train/stats.js';
import { normSlots } from '../../src/zero/norm-exchange.js';

const N = 2;
/** Uneven enough that buckets are padded; ~11k parameters in 6 buckets. */
const TINY: Partial<StageRunOptions> = {
  model: { vocabSize: 256, blockSize: 12, nLayer: 2, nHead: 2, nEmbd: 18 },
  microBatch: 3,
  steps: 3,
  untimedSteps: 2,
  bucketElements: 2000,
  stage3Prefetch: 700,
  stage3Persistence: 64,
  evalBatches: 2,
  deviceBytes: 64 << 20,
  progressEvery: 0,
};

function collect(): { lines: string[]; print: (l: string) => void } {
  const lines: string[] = [];
  return { lines, print: (l: string) => lines.push(...l.split('\n')) };
}

/** Every stage's per-step losses (mean over ranks) against stage 0's, relative. */
function assertSameLosses(s: readonly RunReport[], rel: number, tag: string): void {
  const ref = s[0]!.losses;
  for (const x of s) {
    assert.equal(x.losses.length, ref.length, `${tag} stage ${x.stage}: steps`);
    x.losses.forEach((l, i) =>
      assert.ok(
        Math.abs(l - ref[i]!) <= rel * ref[i]!,
        `${tag} stage ${x.stage} step ${i}: loss ${l} vs stage 0 ${ref[i]}`,
      ),
    );
  }
}

/** The single-process oracle: the first step's loss is one forward of the global batch (rank 0's windows, then 1's). */
function firstLossOneProcess(spec: Partial<StageRunOptions>): number {
  const m = spec.model!;
  const T = m.blockSize;
  const { train } = trainValSplit(loadCorpus());
  const rows: number[][] = [];
  const targets: number[][] = [];
  for (let r = 0; r < N; r++) {
    const b = new DistributedSampler(train, {
      blockSize: T,
      microBatchSize: spec.microBatch!,
      worldSize: N,
      rank: r,
    }).batch(1337, 0, 0);
    for (let i = 0; i < b.B; i++) {
      rows.push([...b.inputs.subarray(i * T, (i + 1) * T)]);
      targets.push([...b.targets.subarray(i * T, (i + 1) * T)]);
    }
  }
  const device = new Device({ capacityBytes: 16 << 20, kernels: 'js', name: 'oracle' });
  const model = new GPT(device, { ...m, seed: 1337 });
  const tape = new Tape(device);
  const { loss } = model.forward(tape, rows, targets);
  const value = loss!.f32()[0]!;
  tape.clear();
  return value;
}

test(
  'demo, fp32, 2 thread ranks: same losses in every stage, the one-process first loss, states and comm bytes as ' +
    'the formulas, one table',
  async () => {
    const out = collect();
    const spec = { ...TINY, precision: 'fp32' as const };
    const s = await demo({ steps: 3, worldSize: N, spec, print: out.print });
    assert.deepEqual(
      s.map((x) => x.stage),
      [0, 1, 2, 3],
    );
    assertSameLosses(s, 1e-6, 'fp32');
    const oracle = firstLossOneProcess(spec);
    for (const x of s)
      assert.ok(
        Math.abs(x.losses[0]! - oracle) <= 1e-5 * oracle,
        `stage ${x.stage} first loss ${x.losses[0]} vs one process ${oracle}`,
      );
    for (const x of s) {
      assert.ok(x.valLoss !== null && Number.isFinite(x.valLoss), `stage ${x.stage}: held-out loss ${x.valLoss}`);
      assert.ok(
        Math.abs(x.valLoss! - s[0]!.valLoss!) <= 1e-5 * s[0]!.valLoss!,
        `stage ${x.stage}: held-out loss ${x.valLoss} vs ${s[0]!.valLoss}`,
      );
      // measured model states right after initialize() are exactly the formula over the engine's padded layout
      assert.equal(x.modelStates.param, x.formulaPadded.param, `stage ${x.stage} param bytes`);
      assert.equal(x.modelStates.grad, x.formulaPadded.grad, `stage ${x.stage} grad bytes`);
      assert.equal(x.modelStates.optimizer, x.formulaPadded.optimizer, `stage ${x.stage} optimizer bytes`);
      // communication: 2 Psi (N-1)/N (stages 0-2) or up to 3 Psi (N-1)/N (stage 3) fp32 elements over the padded
      // buckets; the partitioned stages add the gradient norm's scalar all-reduce (5N+1 floats, [Note: exact norm exchange])
      const L = {
        padded: x.perRank[0]!.layout.padded,
        shardNumel: x.perRank[0]!.layout.shardNumel,
        worldSize: N,
      } as BucketedLayout;
      const op = x.commBytesByOp;
      const bulk = x.stage === 0 ? op.all_reduce : op.reduce_scatter + op.all_gather;
      if (x.stage > 0)
        assert.ok(
          op.all_reduce > 0 && op.all_reduce <= 2 * 4 * normSlots(N),
          `stage ${x.stage}: scalar all-reduce ${op.all_reduce} bytes`,
        );
      if (x.stage < 3)
        assert.equal(bulk, commBytesPerRankPadded(L, x.stage, 4), `stage ${x.stage} comm bytes per step`);
      else
        assert.ok(
          bulk > commBytesPerRankPadded(L, 2, 4) && bulk <= 1.5 * commBytesPerRankPadded(L, 3, 4),
          `stage 3 comm bytes ${bulk} vs 3 Psi`,
        );
      assert.equal(x.commBytesPerStep, bulk + (x.stage > 0 ? op.all_reduce : 0) + op.broadcast + op.barrier);
    }
    // memory falls stage by stage (measured and formula)
    for (let k = 1; k < 4; k++) {
      assert.ok(s[k]!.modelStates.total < s[k - 1]!.modelStates.total, `model states stage ${k} < stage ${k - 1}`);
      assert.ok(s[k]!.peak.optimizer <= s[k - 1]!.peak.optimizer, `optimizer peak stage ${k}`);
    }
    assert.ok(s[3]!.peak.param < s[0]!.peak.param, 'stage 3 holds less parameter memory than stage 0');
    // [native blas] the header names the engine that then ran
    const engine = s[0]!.engine;
    assert.ok(
      out.lines.includes(engineLine(engine)) && engine.transport === 'threads',
      `'${engineLine(engine)}' in:\n${out.lines.slice(0, 4).join('\n')}`,
    );
    // the table: a header, a rule, one row per stage whose cells match the summaries
    const at = out.lines.findIndex((l) => /^\s*stage\s+loss\s+val loss\s+tok\/s/.test(l));
    assert.ok(at >= 0, `table header in:\n${out.lines.join('\n')}`);
    assert.match(out.lines[at + 1]!, /^-+( +-+)+$/);
    const rows = out.lines.slice(at + 2, at + 6).map((l) => l.trim().split(/\s+/));
    assert.equal(rows.length, 4);
    rows.forEach((r, k) => {
      assert.equal(r.length, 13, `row ${k}: ${r.join(' ')}`);
      assert.equal(r[0], String(k));
      assert.equal(Number(r[1]), Number(s[k]!.finalLoss.toFixed(4)));
    });
    assert.ok(
      out.lines.some((l) => l.startsWith('Same training:')),
      'the summary line on losses',
    );
  },
);

test('bench zero, bf16, 2 thread ranks: same losses in every stage; the last line is the documented JSON record', async () => {
  const out = collect();
  const summaries = await benchZero({
    worldSize: N,
    spec: { ...TINY, precision: 'bf16', evalBatches: 0 },
    print: out.print,
  });
  assertSameLosses(summaries, 1e-6, 'bf16');
  const last = JSON.parse(out.lines[out.lines.length - 1]!) as Record<string, unknown>;
  assert.deepEqual(Object.keys(last), [
    'bench',
    'world_size',
    'stage0_tokens_per_s',
    'stage1_ratio',
    'stage2_ratio',
    'stage3_ratio',
    'peak_bytes',
    'backend',
    'engine',
  ]);
  assert.ok(last.backend === 'blas' || last.backend === 'wasm', `backend = ${String(last.backend)}`);
  // [native blas] the engine that ran, as the ranks report it
  assert.deepEqual(last.engine, { ...summaries[0]!.engine, kernels: last.backend });
  assert.equal((last.engine as { transport: string }).transport, 'threads');
  assert.equal(last.bench, 'zero');
  assert.equal(last.world_size, N);
  for (const k of ['stage0_tokens_per_s', 'stage1_ratio', 'stage2_ratio', 'stage3_ratio']) {
    assert.ok(
      typeof last[k] === 'number' && (last[k] as number) > 0 && Number.isFinite(last[k]),
      `${k} = ${String(last[k])}`,
    );
  }
  const peaks = last.peak_bytes as Record<string, number>;
  assert.deepEqual(Object.keys(peaks), ['0', '1', '2', '3']);
  summaries.forEach((x) => assert.equal(peaks[String(x.stage)], x.peakTotal));
  assert.deepEqual(
    last,
    JSON.parse(JSON.stringify({ ...benchRecord(summaries), backend: last.backend, engine: last.engine })),
  );
  // 16-bit states: 2 + 2 + 12 bytes per padded element in stage 0
  assert.equal(summaries[0]!.modelStates.total, 16 * summaries[0]!.perRank[0]!.layout.padded);
});

test('step-time statistics: median and the paired ratio of rounds', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  // round-by-round load changes cancel: the other stage is 2x slower in every round whatever the load
  assert.equal(pairedRatio([1, 5, 2, 9], [2, 10, 4, 18]), 0.5);
  assert.equal(pairedRatio([1, 1, 1], [1, 2, 4]), 0.5);
});
