// The step-time model's arithmetic against its definition ([Note: the step-time model]): compute is k Psi tokens /
// (F u), communication bytes are the paper's volumes (and, through the experiments test, equal the measured ones up
// to padding), bandwidth and latency enter linearly, and at 1T parameters on 1024 ranks only stage 3 fits 80 GB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stepTime } from '../../src/estimate/step-time.js';
import { stepEstimateRows } from '../../src/cli/estimate-step.js';
import { gptParamCount, GPT2_MODELS } from '../../src/cli/estimate-step.js';

const hw = { flops: 1e15, utilization: 0.5, linkBytesPerSecond: 1e11, latencySeconds: 1e-5 };

test('compute, bandwidth and latency terms follow the formulas', () => {
  const t = stepTime({ params: 1e9, worldSize: 8, stage: 2, tokensPerRank: 4096, hw, bucketElements: 1e8 });
  assert.equal(t.computeSeconds, (6 * 1e9 * 4096) / (1e15 * 0.5));
  assert.equal(t.commBytesPerRank, 2 * 1e9 * (7 / 8) * 2);
  assert.equal(t.latencySeconds, 2 * 10 * 7 * 1e-5); // 10 buckets, a reduce-scatter and an all-gather each
  assert.equal(t.commSeconds, t.commBytesPerRank / 1e11 + t.latencySeconds);
  const fast = stepTime({
    params: 1e9,
    worldSize: 8,
    stage: 2,
    tokensPerRank: 4096,
    bucketElements: 1e8,
    hw: { ...hw, linkBytesPerSecond: 2e11 },
  });
  assert.ok(Math.abs(fast.commSeconds - fast.latencySeconds - (t.commSeconds - t.latencySeconds) / 2) < 1e-12);
  const s3 = stepTime({
    params: 1e9,
    worldSize: 8,
    stage: 3,
    tokensPerRank: 4096,
    hw,
    layers: 24,
    checkpointing: true,
  });
  assert.equal(s3.commBytesPerRank, 3 * 1e9 * (7 / 8) * 2);
  assert.equal(s3.computeSeconds, (8 * 1e9 * 4096) / (1e15 * 0.5));
  assert.ok(s3.commShare > 0 && s3.commShare < 1);
  assert.equal(stepTime({ params: 1e9, worldSize: 1, stage: 0, tokensPerRank: 1, hw }).commSeconds, 0);
});

test('1T parameters on 1024 ranks of 80 GB: only stage 3 keeps its model states on the device', () => {
  const rows = stepEstimateRows({
    params: 1e12,
    worldSize: 1024,
    layers: 128,
    tokensPerRank: 8192,
    hw,
    deviceBytes: 80e9,
  });
  for (const r of rows) assert.equal(r.fits, r.stage === 3, `stage ${r.stage} offload ${r.offload}`);
});

test('GPT-2 parameter counts', () => {
  assert.equal(gptParamCount(GPT2_MODELS.gpt2!), 124_439_808);
  assert.equal(gptParamCount(GPT2_MODELS['gpt2-xl']!), 1_557_611_200);
});
