// Stage 3's coalesced gather units ([Note: coalesced gather units] in src/zero/gather-units.ts): the cut of the
// module tree for a given bound, checked against sizes counted here from the parameters' names; then training with
// one group per transformer block equals the single-process reference, gathers once per group per pass (the tied
// wte twice) with fewer groups than one per module, moves the paper's 3 Psi (N-1)/N bytes, and keeps the live cap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../../src/tensor/device.js';
import { GPT } from '../../src/nn/gpt.js';
import { gatherUnits } from '../../src/zero/gather-units.js';
import { commBytesPerRankPadded } from '../../src/estimate/index.js';
import type { BucketedLayout } from '../../src/zero/partition.js';
import { fakeWorld } from '../helpers/fake-world.js';
import { reference } from '../helpers/zero-reference.js';
import { GPT_TINY, type LockstepCase } from '../helpers/lockstep-cases.js';
import type { EngineResult } from '../ranks/engine-ranks.js';
import { normSlots } from '../../src/zero/norm-exchange.js';

function tinyGPT(): GPT {
  return new GPT(new Device({ capacityBytes: 4 << 20, kernels: 'js' }), GPT_TINY, { materialize: false });
}

/** Elements of the parameters whose name starts with `prefix` (a subtree's own parameters, in GPT-2 naming). */
function numelUnder(model: GPT, prefix: string): number {
  return model
    .parameters()
    .filter((p) => p.name.startsWith(prefix))
    .reduce((s, p) => s + p.numel, 0);
}

const BLOCK = numelUnder(tinyGPT(), 'h.0.');

test('gather units: bound 0 is one group per module; a block-sized bound one group per block; a model-sized one group', () => {
  const model = tinyGPT();
  const params = model.parameters();
  const names = (is: readonly number[]) => is.map((i) => params[i].name);
  const wte = params.findIndex((p) => p.name === 'wte.weight');

  // bound 0: every module with parameters is a unit of its own parameters; the tied head's unit owns nothing and
  // uses wte's group
  const perModule = gatherUnits(model, params, 0);
  const withParams = model.modules().filter((m) => m.directParameters().length > 0);
  assert.deepEqual(
    perModule.map((u) => u.module),
    withParams,
  );
  const head = perModule.find((u) => u.module === model.lm_head)!;
  assert.deepEqual(head.own, []);
  assert.deepEqual(head.uses, [wte]);
  perModule
    .filter((u) => u.module !== model.lm_head)
    .forEach((u) =>
      assert.deepEqual(
        names(u.own),
        u.module.directParameters().map((p) => p.name),
      ),
    );

  // one block's elements: each block is one unit owning all its parameters; wte, wpe, ln_f, the head stay units
  const perBlock = gatherUnits(model, params, BLOCK);
  assert.deepEqual(
    perBlock.map((u) => u.module.prefix),
    ['wte', 'wpe', 'h.0', 'h.1', 'ln_f', 'lm_head'],
  );
  for (const i of [0, 1]) {
    const u = perBlock.find((x) => x.module.prefix === `h.${i}`)!;
    assert.deepEqual(
      names(u.own),
      params.filter((p) => p.name.startsWith(`h.${i}.`)).map((p) => p.name),
    );
  }
  // one element less: a block splits into its LayerNorms, attention and MLP (each below the bound)
  const split = gatherUnits(model, params, BLOCK - 1);
  assert.deepEqual(
    split.filter((u) => u.module.prefix.startsWith('h.0')).map((u) => u.module.prefix),
    ['h.0.ln_1', 'h.0.attn', 'h.0.ln_2', 'h.0.mlp'],
  );

  // the whole model: one unit, the root, which also covers the tied head
  const total = params.reduce((s, p) => s + p.numel, 0);
  const one = gatherUnits(model, params, total);
  assert.equal(one.length, 1);
  assert.equal(one[0].module, model);
  assert.deepEqual(
    one[0].own,
    params.map((_, i) => i),
  );

  // every parameter is owned by exactly one unit, whatever the bound
  for (const bound of [0, 100, BLOCK - 1, BLOCK, total - 1, total]) {
    const owned = gatherUnits(model, params, bound)
      .flatMap((u) => u.own)
      .sort((a, b) => a - b);
    assert.deepEqual(
      owned,
      params.map((_, i) => i),
      `bound ${bound}`,
    );
  }
});

test('stage 3 with one group per block (N = 2): same training, one gather per group per pass, 3 Psi (N-1)/N bytes', async () => {
  const N = 2;
  const base: LockstepCase = { stage: 3, precision: 'fp32', worldSize: N, gas: 1, steps: 3, clip: 0.5, kernels: 'js' };
  const cases: LockstepCase[] = [
    { ...base, stage3: {} }, // one group per module, strict release
    { ...base, stage3: { prefetch: BLOCK } }, // one group per block, strict release, prefetch
    { ...base, stage3: { prefetch: 1e9, maxLive: BLOCK } }, // the live cap bounds the units too
  ];
  const res = await fakeWorld<EngineResult[]>({
    worldSize: N,
    module: new URL('../ranks/engine-ranks.js', import.meta.url),
    fn: 'trainMany',
    args: cases,
  });
  const ref = reference(base);
  const [perModule, perBlock, capped] = res[0];
  cases.forEach((_, k) => {
    for (const name of Object.keys(ref.params)) {
      ref.params[name].forEach((want, i) =>
        assert.ok(
          Math.abs(res[0][k].params![name][i] - want) <= 1e-5 * Math.max(1, Math.abs(want)),
          `case ${k} ${name}[${i}]`,
        ),
      );
    }
    // the global batch's loss is the mean of the ranks' (equal token counts)
    ref.losses.forEach((want, s) => {
      const got = res.reduce((a, r) => a + r[k].losses[s], 0) / N;
      assert.ok(
        Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want)),
        `case ${k} loss at step ${s}: ${got} vs ${want}`,
      );
    });
  });
  // groups: wte, wpe, h.0, h.1, ln_f (the head uses wte's)
  assert.equal(perBlock.layout.buckets, 5);
  assert.equal(capped.layout.buckets, 5);
  assert.ok(perModule.layout.buckets > perBlock.layout.buckets);
  // strict release: every group gathered in forward and in backward, the tied wte twice in each
  assert.equal(perBlock.fetch!.gathers, 3 * 2 * (perBlock.layout.buckets + 1));
  assert.equal(perModule.fetch!.gathers, 3 * 2 * (perModule.layout.buckets + 1));
  // the live cap: what is gathered at once stays within the cap plus the one group a module needs now
  assert.ok(
    capped.fetch!.peakLiveElements <= BLOCK + capped.layout.largestGroup,
    `live cap (${capped.fetch!.peakLiveElements})`,
  );
  // bytes per step: 3 Psi (N-1)/N over the padded groups, the norm's scalars, the tied wte's second gather per pass
  for (const r of res.map((x) => x[1])) {
    const L = { padded: r.layout.padded, shardNumel: r.layout.shardNumel, worldSize: N } as BucketedLayout;
    const bytes =
      commBytesPerRankPadded(L, 3, 4) +
      (2 * (N - 1) * 4 * normSlots(N)) / N +
      (2 * r.layout.wtePadded * (N - 1) * 4) / N;
    for (const got of r.commBytes) assert.ok(Math.abs(got - bytes) < 1e-6, `comm bytes per step ${got} vs ${bytes}`);
    assert.equal(r.fetch!.liveElements, 0);
  }
});

test('stage 3 with one group per block: ranks whose forwards run different blocks fail with a named error, not a hang', async () => {
  const module = new URL('../ranks/diverge-units-ranks.js', import.meta.url);
  await assert.rejects(
    fakeWorld({
      worldSize: 2,
      module,
      fn: 'divergeUnits',
      args: { mode: 'one', blockElements: BLOCK },
      timeoutMs: 30_000,
    }),
    (e: unknown) => {
      const m = String((e as Error).message);
      assert.match(m, /stage 3, module "[^"]+" \(before forward\), rank \d/);
      assert.match(m, /rank 0 .*rank 1|rank 1 .*rank 0/);
      return true;
    },
  );
  // equal blocks swapped: every gather has the same size on both ranks; the reduction-order check at the step fails
  await assert.rejects(
    fakeWorld({
      worldSize: 2,
      module,
      fn: 'divergeUnits',
      args: { mode: 'swap', blockElements: BLOCK },
      timeoutMs: 30_000,
    }),
    /reduced their gradient buckets in different orders/,
  );
});
