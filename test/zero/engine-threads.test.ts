// The engine on the real threads transport (src/launch spawnWorld, src/comm threads), wasm kernels, 3 ranks:
// stages 0-3 in fp32 and stage 2 with the optimizer offloaded to host memory equal the single-process reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnWorld } from '../../src/launch/spawn.js';
import { reference } from '../helpers/zero-reference.js';
import type { LockstepCase } from '../helpers/lockstep-cases.js';
import type { EngineResult } from '../ranks/engine-ranks.js';
import { normSlots } from '../../src/zero/norm-exchange.js';

const ranks = new URL('../ranks/engine-ranks.js', import.meta.url);

test(
  'threads transport, N = 3: stages 0-3 fp32 and stage 2 with offload_optimizer cpu, stage 3 with offload_param ' +
    'cpu equal the single process',
  async () => {
    const cases: LockstepCase[] = ([0, 1, 2, 3] as const).map((stage) => ({
      stage,
      precision: 'fp32',
      worldSize: 3,
      gas: 1,
      steps: 3,
      clip: 0.5,
      kernels: 'wasm',
      strict3: stage === 3,
    }));
    cases.push({
      stage: 2,
      precision: 'fp32',
      worldSize: 3,
      gas: 2,
      steps: 3,
      clip: 0.5,
      kernels: 'wasm',
      offload: true,
    });
    cases.push({
      stage: 3,
      precision: 'fp32',
      worldSize: 3,
      gas: 1,
      steps: 3,
      clip: 0.5,
      kernels: 'wasm',
      offload: true,
      offloadParam: true,
      strict3: true,
    });
    const res = await spawnWorld<EngineResult[]>({
      worldSize: 3,
      module: ranks,
      fn: 'trainMany',
      args: cases,
      timeoutMs: 120_000,
    });
    compare(cases, res);
  },
);

test('threads transport with a progress thread, N = 2: overlap_comm stages 2 and 3 equal the single process', async () => {
  const cases: LockstepCase[] = [
    {
      stage: 2,
      precision: 'fp32',
      worldSize: 2,
      gas: 2,
      steps: 3,
      clip: 0.5,
      kernels: 'wasm',
      overlap: true,
      bucket: 100,
    },
    {
      stage: 3,
      precision: 'fp32',
      worldSize: 2,
      gas: 1,
      steps: 3,
      clip: 0.5,
      kernels: 'wasm',
      overlap: true,
      stage3: { prefetch: 400, persistence: 0, reuse: 0 },
    },
  ];
  compare(
    cases,
    await spawnWorld<EngineResult[]>({ worldSize: 2, module: ranks, fn: 'trainMany', args: cases, timeoutMs: 120_000 }),
  );
});

function compare(cases: LockstepCase[], res: EngineResult[][]): void {
  cases.forEach((c, k) => {
    const tag = `stage ${c.stage}${c.offload ? ' offload' : ''}`;
    const ref = reference(c);
    const r = res.map((x) => x[k]);
    ref.losses.forEach((want, s) => {
      const mean = r.reduce((a, x) => a + x.losses[s], 0) / r.length;
      assert.ok(Math.abs(mean - want) <= 1e-5 * want, `${tag} loss at step ${s}: ${mean} vs ${want}`);
    });
    for (const name of Object.keys(ref.params)) {
      ref.params[name].forEach((want, i) =>
        assert.ok(Math.abs(r[0].params![name][i] - want) <= 1e-5 * Math.max(1, Math.abs(want)), `${tag} ${name}[${i}]`),
      );
    }
    if (c.stage < 3 || c.strict3) checkPayload(c, r);
    if (c.offloadParam) {
      assert.equal(r[0].memory.afterStep.param, 0, 'offloaded parameters: nothing on the device between steps');
      assert.ok(
        r[0].paramPeak > 0 && r[0].paramPeak <= 2 * r[0].layout.largestGroup * 4,
        'only gathered groups on the device',
      );
    }
    if (c.offload) {
      assert.equal(r[0].memory.afterStep.optimizer, 0, 'offloaded: no optimizer state on the device');
      assert.ok(r[0].hostInUse >= 8 * r[0].layout.shardNumel, 'offloaded: master + Adam state in host memory');
    }
  });
}

/**
 * The collectives' payload bytes per step on the real transport (the buffers handed in, independent of the
 * transport's algorithm; its bytesSent follows the shared-memory algorithm instead) equal the formula over the
 * engine's padded layout: stage 0 all-reduces every bucket; stages 1-2 reduce-scatter and all-gather every bucket
 * (stage 2 reduce-scatters at every micro-step) plus the norm's scalar all-reduce ([Note: exact norm exchange]); stage 3 reduce-scatters
 * every group per micro-step and, under strict release, gathers every group in forward and in backward, the tied wte
 * twice per pass (embedding and LM head).
 */
function checkPayload(c: LockstepCase, r: EngineResult[]): void {
  const b = c.precision === 'fp32' ? 4 : 2;
  for (const [rank, x] of r.entries()) {
    const P = x.layout.padded * b;
    const scalar = c.stage > 0 && c.worldSize > 1 ? 4 * normSlots(c.worldSize) : 0;
    const want =
      c.stage === 0
        ? { all_reduce: P, reduce_scatter: 0, all_gather: 0 }
        : c.stage === 1
          ? { all_reduce: scalar, reduce_scatter: P, all_gather: P }
          : c.stage === 2
            ? { all_reduce: scalar, reduce_scatter: c.gas * P, all_gather: P }
            : { all_reduce: scalar, reduce_scatter: c.gas * P, all_gather: c.gas * 2 * (P + x.layout.wtePadded * b) };
    x.payload.forEach((got, s) => {
      const tag = `stage ${c.stage}${c.offload ? ' offload' : ''} rank ${rank} step ${s}`;
      assert.deepEqual(
        { all_reduce: got.all_reduce, reduce_scatter: got.reduce_scatter, all_gather: got.all_gather },
        want,
        `${tag} payload bytes`,
      );
      assert.equal(got.broadcast, 0, `${tag} no broadcasts`);
    });
  }
}
