// Smoke test of the comm benchmark (small sizes): it runs, prints a line per op and size, and ends with the JSON
// record. No timing is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchComm } from '../../src/cli/bench-comm.js';

test('benchComm prints one line per op and size and a JSON record last', { timeout: 60_000 }, async () => {
  const lines: string[] = [];
  const rec = await benchComm({
    worldSize: 2,
    sizes: [64 * 1024, 256 * 1024],
    tinyIterations: 100,
    print: (l) => lines.push(l),
  });
  assert.equal(lines.filter((l) => /^(all_reduce|reduce_scatter|all_gather) +[\d.]+ [KM]iB /.test(l)).length, 6);
  const last = JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
  assert.deepEqual(Object.keys(last), [
    'bench',
    'transport',
    'world_size',
    'op',
    'bytes',
    'algbw_gbps',
    'memcpy_gbps',
    'ratio',
    'tiny_latency_us',
  ]);
  assert.deepEqual(
    [last.bench, last.transport, last.world_size, last.op, last.bytes],
    ['comm', 'threads', 2, 'all_reduce', 256 * 1024],
  );
  assert.deepEqual(last, rec);
  for (const k of ['algbw_gbps', 'memcpy_gbps', 'ratio', 'tiny_latency_us'])
    assert.ok(Number.isFinite(last[k]) && (last[k] as number) > 0, k);
});
