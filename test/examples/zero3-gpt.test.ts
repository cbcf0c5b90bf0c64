// The README's example must keep working: it trains on 2 thread ranks and every rank holds an equal param shard.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnWorld } from '../../src/launch/index.js';

test('examples/zero3-gpt: 2 thread ranks train with stage 3 bf16; the loss of every rank falls; equal shards', async () => {
  const results = await spawnWorld<{ losses: number[]; paramBytes: number }>({
    worldSize: 2,
    transport: 'threads',
    module: new URL('../../examples/zero3-gpt.js', import.meta.url),
    fn: 'rank',
    args: 8,
  });
  for (const r of results) {
    // each rank reports the loss of its own micro-batch, as DeepSpeed does
    assert.ok(r.losses.every(Number.isFinite));
    assert.ok(r.losses[7] < r.losses[0] - 0.2, `loss falls: ${r.losses.join(', ')}`);
  }
  assert.notDeepEqual(results[0].losses, results[1].losses, 'the ranks trained on different data');
  assert.equal(results[0].paramBytes, results[1].paramBytes);
});
