// Every collective x dtype (f32, bf16, f16) x reduce op x world size 1..4 over TCP (one process per rank), against
// the sequential reference in the documented order (exact): the same rank function as the threads test
// (fixtures/collectives.ts), so both transports are held to the same bits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnWorld } from '../../src/launch/spawn.js';

const fixture = new URL('../ranks/collectives.js', import.meta.url);

for (const worldSize of [1, 2, 3, 4]) {
  test(`tcp collectives, world size ${worldSize}`, { timeout: 90_000 }, async () => {
    const results = await spawnWorld<{ failures: string[]; checks: number; calls: Record<string, number> }>({
      worldSize,
      transport: 'tcp',
      module: fixture,
      fn: 'collectives',
      timeoutMs: 85_000,
    });
    assert.equal(results.length, worldSize);
    for (const r of results) {
      assert.deepEqual(r.failures, []);
      assert.ok(r.checks > 1000);
      // the fixture's call mix is the threads test's business; here: every op ran, the same number on every rank
      assert.deepEqual(r.calls, results[0]!.calls);
      for (const op of ['all_reduce', 'reduce_scatter', 'all_gather', 'broadcast', 'barrier'])
        assert.ok(r.calls[op]! > 0, op);
    }
  });
}
