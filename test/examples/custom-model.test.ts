// examples/custom-model: a user-defined model and loss train under stage 3 on 2 thread ranks, and the module's own
// top-level spawnWorld (as README shows it) does not re-spawn inside the ranks.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { spawnWorld } from '../../src/launch/index.js';

const example = new URL('../../examples/custom-model.js', import.meta.url);

test('examples/custom-model: the loss of every rank falls; equal parameter shards', async () => {
  const results = await spawnWorld<{ losses: number[]; paramBytes: number }>({
    worldSize: 2,
    module: example,
    fn: 'rank',
    args: 40,
    timeoutMs: 120_000,
  });
  for (const r of results) {
    assert.ok(r.losses.every(Number.isFinite));
    const first = r.losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = r.losses.slice(-5).reduce((a, b) => a + b) / 5;
    assert.ok(last < 0.6 * first, `loss falls: ${first} -> ${last}`);
  }
  assert.notDeepEqual(results[0].losses, results[1].losses, 'the ranks trained on different rows');
  assert.equal(results[0].paramBytes, results[1].paramBytes);
});

test('examples/custom-model run as a script: one world, one line per rank', () => {
  const r = spawnSync(process.execPath, [fileURLToPath(example), '10'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.deepEqual(
    lines.map((l) => l.slice(0, 7)),
    ['rank 0:', 'rank 1:'],
  );
});
