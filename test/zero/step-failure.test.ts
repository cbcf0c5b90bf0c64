// Bad input (issue 4): a step that throws leaves parameters and optimizer state as they were. One rank's input gets a
// NaN at the second step (world size 2); in fp32 and bf16 (no loss scaler) every rank must throw NumericsError naming
// the step, with parameters, master weights, Adam moments, step counters, scheduler and loss scaler bitwise
// unchanged; the step redone with clean data must then equal a run that never failed (bitwise) and, in fp32, the
// single-process reference. Over the fake transport (stages 0-3) and over the real threads transport.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeWorld } from '../helpers/fake-world.js';
import { spawnWorld } from '../../src/launch/spawn.js';
import { reference } from '../helpers/zero-reference.js';
import type { NanCase, NanResult } from '../ranks/nan-ranks.js';

const ranks = new URL('../ranks/nan-ranks.js', import.meta.url);

function check(cases: NanCase[], res: NanResult[][]): void {
  cases.forEach((c, k) => {
    const tag = `stage ${c.stage} ${c.precision}`;
    const r = res.map((x) => x[k]);
    r.forEach((x, rank) => {
      if (c.failure === 'oom' && rank === c.poisonRank)
        assert.match(
          x.thrown,
          /^DeviceOutOfMemoryError: injected: \d+ bytes of workspace \(fp32 gradients for the step\)/,
          `${tag} rank ${rank}: its own error`,
        );
      else
        assert.match(
          x.thrown,
          /^NumericsError: step 1: the global gradient norm is not finite/,
          `${tag} rank ${rank} must throw`,
        );
      if (rank === c.poisonRank && c.failure !== 'oom')
        assert.match(
          x.thrown,
          new RegExp(`on rank ${rank} the first non-finite gradient is in bucket \\d+`),
          `${tag}: names the bucket`,
        );
      assert.deepEqual(x.changed, [], `${tag} rank ${rank}: changed by the failed step`);
      assert.deepEqual(x.diverged, [], `${tag} rank ${rank}: recovered run differs from a clean run`);
    });
    if (c.precision !== 'fp32') return;
    const ref = reference({ ...c, steps: 2 });
    ref.losses.forEach((want, s) => {
      const mean = r.reduce((a, x) => a + x.losses[s], 0) / r.length;
      assert.ok(Math.abs(mean - want) <= 1e-5 * want, `${tag} loss at step ${s}: ${mean} vs ${want}`);
    });
    for (const [name, want] of Object.entries(ref.params)) {
      want.forEach((w, i) =>
        assert.ok(Math.abs(r[0].params![name][i] - w) <= 1e-5 * Math.max(1, Math.abs(w)), `${tag} ${name}[${i}]`),
      );
    }
  });
}

const base = { worldSize: 2, gas: 1, steps: 2, clip: 0.5, kernels: 'js', poisonRank: 1, strict3: true } as const;

test(
  'fake transport, N = 2: a NaN on one rank throws on every rank and changes nothing (stages 0-3 fp32, stages 2-3 ' +
    'bf16); so does a failed workspace allocation on one rank',
  async () => {
    const cases: NanCase[] = [
      ...([0, 1, 2, 3] as const).map((stage) => ({ ...base, stage, precision: 'fp32' as const })),
      { ...base, stage: 2, precision: 'bf16' },
      { ...base, stage: 3, precision: 'bf16', poisonRank: 0 },
      // a rank-local failure while preparing the step (device memory) fails the step on every rank, changing nothing
      { ...base, stage: 1, precision: 'bf16', failure: 'oom' },
    ];
    check(
      cases,
      await fakeWorld<NanResult[]>({ worldSize: 2, module: ranks, fn: 'nanStep', args: cases, timeoutMs: 60_000 }),
    );
  },
);

test('threads transport, N = 2: the same (stage 2 fp32, stage 1 bf16)', async () => {
  const cases: NanCase[] = [
    { ...base, stage: 2, precision: 'fp32', kernels: 'wasm' },
    { ...base, stage: 1, precision: 'bf16', kernels: 'wasm' },
  ];
  check(
    cases,
    await spawnWorld<NanResult[]>({ worldSize: 2, module: ranks, fn: 'nanStep', args: cases, timeoutMs: 60_000 }),
  );
});
