// Every collective x dtype (f32, bf16, f16) x reduce op (sum, avg, max) x world size 1..4 on threads, against a
// sequential reference in the documented order (exact), with odd sizes, in-place and async forms.
// One spawned world per world size runs all the checks (see fixtures/collectives.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnWorld } from '../../src/launch/spawn.js';
import { SIZES } from '../ranks/collectives.js';

const fixture = new URL('../ranks/collectives.js', import.meta.url);

for (const [worldSize, progressThread] of [
  [1, false],
  [2, false],
  [3, false],
  [4, false],
  [3, true],
] as const) {
  test(`threads collectives, world size ${worldSize}${progressThread ? ', async on progress threads' : ''}`, {
    timeout: 60_000,
  }, async () => {
    const results = await spawnWorld<{ failures: string[]; checks: number; calls: Record<string, number> }>({
      worldSize,
      module: fixture,
      fn: 'collectives',
      timeoutMs: 55_000,
      args: { progressThread },
    });
    assert.equal(results.length, worldSize);
    for (const r of results) {
      assert.deepEqual(r.failures, []);
      assert.ok(r.checks > 1000);
      // per dtype and size: 3 ops x 2 all-reduce forms, 3 ops x 3 reduce-scatter forms, 3 all-gather forms
      const perDtypeSize = { all_reduce: 6, reduce_scatter: 9, all_gather: 3, broadcast: 2 * Math.min(worldSize, 2) };
      const k = 3 * SIZES.length;
      assert.deepEqual(r.calls, {
        all_reduce: perDtypeSize.all_reduce * k + 3,
        reduce_scatter: perDtypeSize.reduce_scatter * k,
        all_gather: perDtypeSize.all_gather * k,
        broadcast: perDtypeSize.broadcast * k,
        barrier: 1,
      });
    }
  });
}
