// fp16 divergence: a whole loss_scale_window of consecutive overflows at min_loss_scale is a NumericsError
// (DeepSpeed stops with "loss scale already at minimum"), instead of skipping every step to the end (issue 14.3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NumericsError } from '../../src/errors.js';
import { DynamicLossScaler } from '../../src/optim/loss-scaler.js';

const quiet = { warn: () => {} };

test('loss scaler: loss_scale_window consecutive overflows at the minimum scale throw NumericsError', () => {
  // scale 2^2 = 4, min 1, hysteresis 1: overflows halve 4 -> 2 -> 1, then sit at the minimum
  const s = new DynamicLossScaler({
    initialScalePower: 2,
    minLossScale: 1,
    hysteresis: 1,
    lossScaleWindow: 5,
    ...quiet,
  });
  assert.equal(s.update(true), true);
  assert.equal(s.update(true), true);
  assert.equal(s.scale, 1);
  for (let i = 0; i < 4; i++) assert.equal(s.update(true), true); // 4 overflows at the minimum: still going
  assert.throws(
    () => s.update(true),
    (e: unknown) =>
      e instanceof NumericsError &&
      /loss scale already at minimum/.test(e.message) &&
      /5 consecutive steps \(loss_scale_window = 5/.test(e.message),
  );
});

test('loss scaler: a good step at the minimum resets the count (a passing burst is not divergence)', () => {
  const s = new DynamicLossScaler({
    initialScalePower: 0,
    minLossScale: 1,
    hysteresis: 1,
    lossScaleWindow: 3,
    ...quiet,
  });
  for (let round = 0; round < 5; round++) {
    s.update(true);
    s.update(true); // two at the minimum, below the window of 3
    s.update(false);
    if (s.scale > 1) for (let i = 0; i < 8 && s.scale > 1; i++) s.update(true); // back down to the minimum
  }
  assert.ok(s.skippedSteps > 0);
});

test('loss scaler: the count survives stateDict/loadStateDict', () => {
  const a = new DynamicLossScaler({ initialScalePower: 0, hysteresis: 1, lossScaleWindow: 3, ...quiet });
  a.update(true);
  a.update(true);
  const b = new DynamicLossScaler({ initialScalePower: 0, hysteresis: 1, lossScaleWindow: 3, ...quiet });
  b.loadStateDict(a.stateDict());
  assert.throws(() => b.update(true), NumericsError);
});
