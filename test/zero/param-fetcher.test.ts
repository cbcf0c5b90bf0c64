// Stage 3's parameter fetcher: the lifecycle's illegal transitions throw; persistence, reuse distance, prefetch and
// the live-parameter cap change how often and how much is gathered, never the result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lifecycle } from '../../src/zero/param-lifecycle.js';
import { StateError } from '../../src/errors.js';
import { fakeWorld } from '../helpers/fake-world.js';
import { reference } from '../helpers/zero-reference.js';
import type { LockstepCase } from '../helpers/lockstep-cases.js';
import type { EngineResult } from '../ranks/engine-ranks.js';

const ranks = new URL('../ranks/engine-ranks.js', import.meta.url);

test("lifecycle: 'sharded' -> 'gathering' -> 'gathered' -> 'sharded'; anything else throws", () => {
  const l = new Lifecycle('group 0');
  assert.throws(
    () => l.to('gathered'),
    (e: unknown) => e instanceof StateError && /'sharded' -> 'gathered'/.test(e.message),
  );
  l.to('gathering');
  assert.throws(() => l.to('sharded'), StateError);
  assert.throws(() => l.to('gathering'), StateError);
  l.to('gathered');
  assert.throws(() => l.to('gathering'), /group 0: illegal transition/);
  l.to('sharded');
  assert.equal(l.state, 'sharded');
});

test('stage 3 fetch policies: same training, different gathering (N = 2)', async () => {
  const base: LockstepCase = { stage: 3, precision: 'fp32', worldSize: 2, gas: 1, steps: 3, clip: 0.5, kernels: 'js' };
  const cases: LockstepCase[] = [
    { ...base, stage3: {} }, // strict: gather before every use, release after
    { ...base, stage3: { persistence: 1e9 } }, // everything persistent: gathered once per step
    { ...base, stage3: { reuse: 1e9 } }, // keep what is reused soon
    { ...base, stage3: { prefetch: 400 } }, // prefetch ahead (after the first step's trace)
    { ...base, stage3: { prefetch: 1e9, maxLive: 700 } }, // aggressive prefetch under a live cap
  ];
  const res = await fakeWorld<EngineResult[]>({ worldSize: 2, module: ranks, fn: 'trainMany', args: cases });
  const ref = reference(base);
  const r = res[0];
  cases.forEach((_c, k) => {
    for (const name of Object.keys(ref.params)) {
      ref.params[name].forEach((want, i) =>
        assert.ok(
          Math.abs(r[k].params![name][i] - want) <= 1e-5 * Math.max(1, Math.abs(want)),
          `case ${k} ${name}[${i}]`,
        ),
      );
    }
    assert.equal(r[k].fetch!.liveElements, 0, `case ${k}: nothing gathered after the last step`);
  });
  const [strict, persistent, reuse, prefetch, capped] = r.map((x) => x.fetch!);
  const groups = r[0].layout.buckets;
  // strict: each step gathers every group in forward and backward, the tied wte twice in each
  assert.equal(strict.gathers, 3 * 2 * (groups + 1));
  assert.equal(persistent.gathers, 3 * groups, 'persistent groups: one gather per group per step');
  assert.ok(reuse.gathers < strict.gathers, `reuse distance saves gathers (${reuse.gathers} < ${strict.gathers})`);
  assert.equal(prefetch.gathers, strict.gathers, 'prefetch changes when, not how much');
  assert.ok(prefetch.peakLiveElements > strict.peakLiveElements, 'prefetch holds more at once');
  assert.ok(
    capped.peakLiveElements <= 700 + r[0].layout.largestGroup,
    `live cap respected (${capped.peakLiveElements})`,
  );
});

test('ranks whose forwards run different modules fail with an error naming the module and ranks, not a hang', async () => {
  const diverge = new URL('../ranks/diverge-ranks.js', import.meta.url);
  await assert.rejects(fakeWorld({ worldSize: 2, module: diverge, fn: 'diverge', timeoutMs: 30_000 }), (e: unknown) => {
    const m = String((e as Error).message);
    assert.match(m, /stage 3, module "[^"]+" \(before forward\), rank \d/);
    assert.match(m, /rank 0 .*rank 1|rank 1 .*rank 0/);
    return true;
  });
});

test('stage 2: ranks whose backward passes run different modules fail at the step, not silently', async () => {
  const diverge = new URL('../ranks/diverge-ranks.js', import.meta.url);
  await assert.rejects(
    fakeWorld({ worldSize: 2, module: diverge, fn: 'diverge', args: { stage: 2, mode: 'one' }, timeoutMs: 30_000 }),
    /CollectiveMismatchError/,
  );
  // same sizes, different order: only the reduction-order signature in the norm's all-reduce can tell
  await assert.rejects(
    fakeWorld({ worldSize: 2, module: diverge, fn: 'diverge', args: { stage: 2, mode: 'swap' }, timeoutMs: 30_000 }),
    /reduced their gradient buckets in different orders/,
  );
});
