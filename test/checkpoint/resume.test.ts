// Save and resume on the threads transport. Exactly (same world size and stage): the steps after loading give
// bit-identical losses, parameters and moments to the run that never stopped (fp32 and bf16). Anywhere (another world
// size and/or stage, same train_batch_size): the continuation equals the uninterrupted run at the new world size to
// fp32 tolerance, and the data position carries over (every step takes the windows the uninterrupted run takes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CkptCase } from '../ranks/checkpoint-ranks.js';
import { bits, closeParams, noErrors, runCase, sameParams, tempDir } from '../helpers/checkpoint.js';
import { readManifest } from '../../src/checkpoint/manifest.js';

for (const [stage, precision, N, offload] of [
  [2, 'fp32', 2, false],
  [3, 'bf16', 2, false],
  [1, 'bf16', 3, false],
  [2, 'fp16', 2, true],
  [3, 'bf16', 2, 'nvme'],
] as const) {
  const off =
    offload === 'nvme' ? ' offload_optimizer cpu, offload_param nvme' : offload ? ' offload_optimizer cpu' : '';
  const how = `stage ${stage} ${precision}${off} N = ${N}`;
  test(`resume exactly: ${how}, 3 steps after loading step 3 are bit-identical`, async (t) => {
    const dir = tempDir(t);
    const swap = offload === 'nvme' ? mkdtempSync(join(tmpdir(), 'zerots-resume-nvme-')) : undefined;
    if (swap !== undefined) t.after(() => rmSync(swap, { recursive: true, force: true }));
    const base: CkptCase = {
      ...{ stage, precision, worldSize: N, gas: 1, steps: 6, dir, offload: offload !== false },
      ...(swap === undefined ? {} : { paramNvme: swap }),
    };
    const whole = await runCase({ ...base, saveAt: [3] });
    noErrors(whole);
    assert.equal(readFileSync(join(dir, 'latest'), 'utf8').trim(), 'step-3');
    const m = readManifest(join(dir, 'step-3'));
    assert.equal(m.worldSize, N);
    assert.equal(m.stage, stage);
    assert.equal(m.files.length, N);
    assert.deepEqual(m.data, { epoch: 0, sampleIndex: 3 * N * 2 });
    assert.deepEqual(m.clientState, { note: 'test', step: 3 });
    assert.equal(m.scalars.globalSteps, 3);
    assert.equal(m.scalars.scheduler.last_batch_iteration, 2);
    assert.deepEqual(m.kinds, precision === 'fp32' ? ['master', 'm', 'v'] : ['master', 'm', 'v', 'param16']);
    assert.equal(m.scalars.scaler === null, precision !== 'fp16', 'the fp16 loss scaler is saved');
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('.')),
      [],
      'no temporary folder left',
    );
    const resumed = await runCase({ ...base, resume: { dir } });
    noErrors(resumed);
    for (let r = 0; r < N; r++) {
      assert.equal(resumed[r].report?.globalSteps, 3);
      for (let s = 3; s < 6; s++)
        assert.deepEqual(
          bits(Float32Array.of(resumed[r].rankLosses[s]!)),
          bits(Float32Array.of(whole[r].rankLosses[s]!)),
          `rank ${r} step ${s + 1} loss`,
        );
    }
    sameParams(resumed[0].params!, whole[0].params!, 'parameters');
    for (const k of ['m', 'v']) sameParams(resumed[0].moments![k], whole[0].moments![k], `moment ${k}`);
  });
}

interface Move {
  from: { N: number; stage: 0 | 1 | 2 | 3; gas: number };
  to: { N: number; stage: 0 | 1 | 2 | 3; gas: number };
}
const moves: Move[] = [
  { from: { N: 4, stage: 2, gas: 1 }, to: { N: 2, stage: 2, gas: 2 } },
  { from: { N: 2, stage: 1, gas: 3 }, to: { N: 3, stage: 1, gas: 2 } },
  { from: { N: 1, stage: 0, gas: 4 }, to: { N: 4, stage: 3, gas: 1 } },
  { from: { N: 2, stage: 2, gas: 1 }, to: { N: 2, stage: 3, gas: 1 } },
  { from: { N: 2, stage: 3, gas: 1 }, to: { N: 2, stage: 1, gas: 1 } },
];

for (const { from, to } of moves) {
  test(
    `resume anywhere: N ${from.N} stage ${from.stage} -> N ${to.N} stage ${to.stage} (train_batch_size ` +
      `${from.N * from.gas * 2}) equals the uninterrupted run at N ${to.N}`,
    async (t) => {
      const dir = tempDir(t);
      const common = { precision: 'fp32' as const, steps: 6, dir };
      const first = await runCase({
        ...common,
        stage: from.stage,
        worldSize: from.N,
        gas: from.gas,
        steps: 3,
        saveAt: [3],
      });
      noErrors(first);
      const resumed = await runCase({ ...common, stage: to.stage, worldSize: to.N, gas: to.gas, resume: { dir } });
      noErrors(resumed);
      const ref = await runCase({ ...common, stage: to.stage, worldSize: to.N, gas: to.gas, dir: join(dir, 'unused') });
      noErrors(ref);
      const rep = resumed[0].report!;
      assert.deepEqual(rep.worldSize, { saved: from.N, now: to.N });
      assert.deepEqual(rep.stage, { saved: from.stage, now: to.stage });
      // the data: no window repeated or skipped, step by step
      for (let s = 0; s < 3; s++) assert.deepEqual(first[0].windows[s], ref[0].windows[s], `step ${s + 1} windows`);
      for (let s = 3; s < 6; s++) {
        assert.deepEqual(resumed[0].windows[s], ref[0].windows[s], `step ${s + 1} windows`);
        assert.ok(
          Math.abs(resumed[0].losses[s]! - ref[0].losses[s]!) < 1e-5,
          `step ${s + 1}: loss ${resumed[0].losses[s]} vs uninterrupted ${ref[0].losses[s]}`,
        );
      }
      closeParams(resumed[0].params!, ref[0].params!, 1e-5, 'parameters after 6 steps');
      assert.ok(!existsSync(join(dir, 'unused')));
    },
  );
}

test('over TCP (2 processes): save at step 2, resume, bit-identical to the uninterrupted run; resharded to 1 rank', async (t) => {
  const dir = tempDir(t);
  const base: CkptCase = { stage: 2, precision: 'bf16', worldSize: 2, gas: 1, steps: 4, dir };
  const whole = await runCase({ ...base, saveAt: [2] }, 'tcp');
  noErrors(whole);
  const resumed = await runCase({ ...base, resume: { dir } }, 'tcp');
  noErrors(resumed);
  for (let s = 2; s < 4; s++) assert.equal(resumed[1].rankLosses[s], whole[1].rankLosses[s], `step ${s + 1}`);
  sameParams(resumed[0].params!, whole[0].params!, 'parameters');
  const one = await runCase({ ...base, worldSize: 1, gas: 2, resume: { dir } });
  noErrors(one);
  assert.deepEqual(one[0].windows[3], whole[0].windows[3]);
  assert.ok(Math.abs(one[0].losses[3]! - whole[0].losses[3]!) < 1e-2, 'bf16 at another world size: close');
});
