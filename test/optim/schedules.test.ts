// LR schedules, loss scaler and clipping against values computed by hand from DeepSpeed's / PyTorch's formulas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DynamicLossScaler,
  LRScheduler,
  WarmupCosineLR,
  WarmupDecayLR,
  WarmupLR,
  clipCoefficient,
  createScheduler,
  globalNorm,
  unscaleAndClip,
} from '../../src/optim/index.js';
import { ConfigError, NumericsError } from '../../src/errors.js';

function near(got: number, want: number, what: string): void {
  assert.ok(Math.abs(got - want) <= 1e-12 + 1e-12 * Math.abs(want), `${what}: ${got} vs ${want}`);
}

test('WarmupLR: log and linear warmup, then constant; iteration -1 gives warmup_min_lr', () => {
  const log = new WarmupLR({ warmupMinLr: 0, warmupMaxLr: 0.01, warmupNumSteps: 10 });
  near(log.lrAt(-1), 0, 'it -1');
  near(log.lrAt(0), 0, 'ln(1) = 0');
  near(log.lrAt(1), 0.01 * 0.3010299956639812, 'ln 2 / ln 10');
  near(log.lrAt(9), 0.01, 'ln 10 / ln 10');
  near(log.lrAt(10), 0.01, 'after warmup');
  near(log.lrAt(12345), 0.01, 'stays');
  const lin = new WarmupLR({ warmupMinLr: 0.001, warmupMaxLr: 0.011, warmupNumSteps: 10, warmupType: 'linear' });
  near(lin.lrAt(-1), 0.001, 'it -1');
  near(lin.lrAt(5), 0.006, '0.001 + 0.01 * 5/10');
  near(lin.lrAt(9), 0.01, '0.001 + 0.01 * 9/10');
  near(lin.lrAt(10), 0.011, 'max');
  // warmup_num_steps is at least 2 (DeepSpeed: max(2, n))
  const short = new WarmupLR({ warmupMinLr: 0.1, warmupMaxLr: 0.2, warmupNumSteps: 0 });
  near(short.lrAt(0), 0.1, 'W=2, it 0');
  near(short.lrAt(1), 0.2, 'W=2, it 1: ln 2 / ln 2');
  // defaults: 0 -> 1e-3 over 1000 steps, log
  const d = new WarmupLR();
  near(d.lrAt(99), (1e-3 * Math.log(100)) / Math.log(1000), 'defaults');
});

test('WarmupDecayLR: warmup, then linear decay to 0 at total_num_steps', () => {
  const s = new WarmupDecayLR({
    warmupMinLr: 0,
    warmupMaxLr: 0.01,
    warmupNumSteps: 10,
    warmupType: 'linear',
    totalNumSteps: 20,
  });
  near(s.lrAt(4), 0.004, 'warmup 4/10');
  near(s.lrAt(10), 0.01, '(20-10)/10');
  near(s.lrAt(15), 0.005, '(20-15)/10');
  near(s.lrAt(19), 0.001, '(20-19)/10');
  near(s.lrAt(20), 0, 'end');
  near(s.lrAt(25), 0, 'clamped at 0');
  const degenerate = new WarmupDecayLR({ warmupMaxLr: 1, warmupNumSteps: 10, totalNumSteps: 10 });
  near(degenerate.lrAt(10), 0, '(10 - 10) / max(1, 0)');
  assert.throws(
    () => new WarmupDecayLR({ totalNumSteps: 0 }),
    (e: unknown) => e instanceof ConfigError && e.path === 'scheduler.params.total_num_steps',
  );
});

test('WarmupCosineLR: ratio warmup from warmup_min_ratio, cosine to cos_min_ratio, times the optimizer lr', () => {
  const s = new WarmupCosineLR(
    { totalNumSteps: 20, warmupNumSteps: 10, warmupMinRatio: 0.1, cosMinRatio: 0.01, warmupType: 'linear' },
    0.5,
  );
  near(s.lrAt(-1), 0, 'it -1: DeepSpeed returns ratio 0');
  near(s.lrAt(0), 0.05, '0.5 * 0.1');
  near(s.lrAt(5), 0.275, '0.5 * (0.1 + 0.9 * 0.5)');
  // it 10: s = 1 of 10: (1 + cos(pi/10)) / 2 = 0.9755282581475768; 0.01 + 0.99 * that = 0.975772975566101
  near(s.lrAt(10), 0.4878864877830505, 'first cosine step');
  near(s.lrAt(14), 0.2525, 'half way: 0.5 * (0.01 + 0.99 * 0.5)');
  near(s.lrAt(19), 0.005, 'end: 0.5 * 0.01');
  const log = new WarmupCosineLR({ totalNumSteps: 100, warmupNumSteps: 10, warmupMinRatio: 0.1 }, 1);
  near(log.lrAt(9), 1, 'log warmup reaches 1 at W-1');
  near(log.lrAt(3), 0.1 + (0.9 * Math.log(4)) / Math.log(10), 'log warmup');
  assert.throws(() => new WarmupCosineLR({ totalNumSteps: 10, cosMinRatio: 2 }, 1), ConfigError);
  assert.throws(() => new WarmupCosineLR({ totalNumSteps: 10, warmupType: 'exp' as never }, 1), /warmup_type/);
});

test('LRScheduler: DeepSpeed protocol (starts at -1, step after each applied step, state dict)', () => {
  const sch = createScheduler(
    { type: 'WarmupLR', params: { warmupMinLr: 0.001, warmupMaxLr: 0.011, warmupNumSteps: 10, warmupType: 'linear' } },
    0.5,
  );
  assert.equal(sch.lastBatchIteration, -1);
  near(sch.lr, 0.001, 'first optimizer step uses lrAt(-1)');
  near(sch.step(), 0.001, 'it 0');
  near(sch.step(), 0.002, 'it 1');
  const saved = sch.stateDict();
  assert.deepEqual(saved, { last_batch_iteration: 1 });
  const other = createScheduler(
    { type: 'WarmupLR', params: { warmupMinLr: 0.001, warmupMaxLr: 0.011, warmupNumSteps: 10, warmupType: 'linear' } },
    0.5,
  );
  other.loadStateDict(saved);
  near(other.step(), 0.003, 'resumed at it 2');
  near(sch.step(7), 0.008, 'jump');
  const constant = createScheduler(null, 0.25);
  near(constant.lr, 0.25, 'no scheduler');
  near(constant.step(), 0.25, 'no scheduler');
  assert.ok(createScheduler({ type: 'WarmupCosineLR', params: { totalNumSteps: 5 } }, 1) instanceof LRScheduler);
  assert.throws(
    () => createScheduler({ type: 'OneCycle' } as never, 1),
    (e: unknown) => e instanceof ConfigError && e.path === 'scheduler.type',
  );
});

test('DynamicLossScaler: window growth, hysteresis, skipped steps (hand-traced sequence)', () => {
  const s = new DynamicLossScaler({ initialScalePower: 4, lossScaleWindow: 3, hysteresis: 2 });
  assert.equal(s.scale, 16);
  const trace: [boolean, number][] = [
    [false, 16], // iter 0: (0 - -1) % 3 = 1
    [false, 16], // iter 1: 2
    [false, 32], // iter 2: 3 % 3 = 0 -> double
    [true, 32], // iter 3: overflow, hysteresis 2 -> 1, scale kept
    [true, 16], // iter 4: overflow, hysteresis exhausted -> halve
    [false, 16], // iter 5: (5 - 4) % 3 = 1
    [false, 16], // iter 6: 2
    [false, 32], // iter 7: 3 -> double, hysteresis restored to 2
    [true, 32], // iter 8: hysteresis 2 -> 1
  ];
  for (const [i, [overflow, scale]] of trace.entries()) {
    assert.equal(s.update(overflow), overflow, `iter ${i} skip flag`);
    assert.equal(s.scale, scale, `iter ${i}`);
  }
  assert.equal(s.skippedSteps, 3);
  const st = s.stateDict();
  assert.deepEqual(st, { curScale: 32, curIter: 9, lastOverflowIter: 8, curHysteresis: 1, skippedSteps: 3 });
  const r = new DynamicLossScaler({ initialScalePower: 4, lossScaleWindow: 3, hysteresis: 2 });
  r.loadStateDict(st);
  r.update(true);
  assert.equal(r.scale, 16, 'restored hysteresis 1: next overflow halves');
});

test('DynamicLossScaler: consecutive hysteresis restores on every good step', () => {
  const plain = new DynamicLossScaler({ initialScalePower: 10, hysteresis: 2 });
  const consec = new DynamicLossScaler({ initialScalePower: 10, hysteresis: 2, consecutiveHysteresis: true });
  for (const o of [true, false, true]) {
    plain.update(o);
    consec.update(o);
  }
  assert.equal(plain.scale, 512, 'two non-consecutive overflows exhaust hysteresis 2');
  assert.equal(consec.scale, 1024, 'the good step in between restored the hysteresis');
  consec.update(true);
  assert.equal(consec.scale, 512);
});

test('DynamicLossScaler: minimum scale warns once (or raises); static scale never changes but still skips', () => {
  const warnings: string[] = [];
  const s = new DynamicLossScaler({
    initialScalePower: 3,
    minLossScale: 4,
    hysteresis: 1,
    warn: (m) => warnings.push(m),
  });
  s.update(true);
  assert.equal(s.scale, 4);
  assert.equal(warnings.length, 0);
  s.update(true);
  s.update(true);
  assert.equal(s.scale, 4);
  assert.equal(warnings.length, 1, 'warned once');
  assert.match(warnings[0]!, /minimum \(min_loss_scale = 4\)/);
  assert.match(warnings[0]!, /skipped/);
  assert.equal(s.skippedSteps, 3);
  const strict = new DynamicLossScaler({ initialScalePower: 0, hysteresis: 1, raiseAtMinScale: true, warn: () => {} });
  assert.throws(() => strict.update(true), NumericsError);

  const fixed = new DynamicLossScaler({ lossScale: 128 });
  assert.equal(fixed.dynamic, false);
  assert.equal(fixed.update(true), true);
  for (let i = 0; i < 2000; i++) fixed.update(false);
  assert.equal(fixed.scale, 128);
  assert.equal(fixed.skippedSteps, 1);
  assert.throws(
    () => new DynamicLossScaler({ lossScaleWindow: 0 }),
    (e: unknown) => e instanceof ConfigError && e.path === 'fp16.loss_scale_window',
  );
  assert.equal(new DynamicLossScaler().scale, 65536, 'default initial_scale_power 16');
});

test('clipping: PyTorch clip_grad_norm_ coefficient, global norm, loss-scale unscaling', () => {
  near(globalNorm([9, 16]), 5, 'sqrt(9 + 16)');
  near(globalNorm(2), Math.SQRT2, 'scalar');
  near(clipCoefficient(10, 1), 1 / (10 + 1e-6), 'clipped');
  near(clipCoefficient(1, 1), 1 / (1 + 1e-6), 'at the threshold the coefficient is just below 1, so it applies');
  assert.equal(clipCoefficient(0.5, 1), 1, 'below max_norm: untouched');
  assert.equal(clipCoefficient(10, 0), 1, 'gradient_clipping 0 disables');
  assert.equal(clipCoefficient(Infinity, 1), 1, 'non-finite norm is not clipped');
  assert.equal(clipCoefficient(NaN, 1), 1);
  const r = unscaleAndClip(4 * 2048, 2048, 1);
  near(r.norm, 4, 'unscaled norm');
  near(r.gradScale, 1 / (4 + 1e-6) / 2048, 'clip / scale');
  near(unscaleAndClip(0.5 * 1024, 1024, 1).gradScale, 1 / 1024, 'no clip: just unscale');
});
