// An unbounded host memory (no capacityBytes) says so in its out-of-memory message instead of printing
// Number.MAX_SAFE_INTEGER as "capacity 8388608.00 GiB" (issue 14 item 7).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceOutOfMemoryError } from '../../src/errors.js';
import { HostMemory } from '../../src/tensor/host.js';

test('host memory: an allocation past the 4 GiB arena limit of an unbounded host names no fake capacity', () => {
  const h = new HostMemory({ arenaBytes: 4 * 2 ** 20, kernels: 'js' });
  assert.throws(
    () => h.alloc(5 * 2 ** 30, 'param', 'too big'),
    (e: unknown) =>
      e instanceof DeviceOutOfMemoryError &&
      /capacity unbounded/.test(e.message) &&
      !/8388608/.test(e.message) &&
      /one host allocation can be at most/.test(e.message),
  );
});
