// The run-queue meter of `zerots bench offload` ([Note: offload bench bound]): what /proc says about this process's
// threads between two samples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunQueueMeter, schedSample } from '../../src/cli/run-queue.js';

test('run-queue meter: on Linux the busy thread is counted and the wait share is a fraction', (t) => {
  const before = schedSample();
  if (before === null) {
    t.skip('no /proc/self/task/*/schedstat here');
    return;
  }
  const t0 = performance.now();
  let x = 0;
  while (performance.now() - t0 < 30) x += Math.sqrt(x + 1);
  const meter = new RunQueueMeter();
  meter.add(before, schedSample(), (performance.now() - t0) * 1e6);
  assert.ok(x > 0);
  assert.ok(meter.onCpuNs > 0, 'the spinning main thread ran');
  const share = meter.share();
  assert.ok(share !== null && share >= 0 && share < 1, `share ${share}`);
});
