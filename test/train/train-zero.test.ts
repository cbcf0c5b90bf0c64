// `zerots train`: the ZeRO engine on thread ranks (or this thread at world size 1), end to end on a tiny GPT. The
// default config (stage 2 at N > 1, stage 0 at N = 1; fp32, AdamW, WarmupCosineLR) at N = 2 learns (held-out loss
// below the initial ln(256)-ish loss) and reports from rank 0; without --world-size the run is the engine at stage 0
// on one rank; a config file with stage 3 and gradient accumulation at N = 1; a bad config key fails before any
// rank starts, naming the key; a run that ends on a NaN loss is a NumericsError, never a success.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train } from '../../src/cli/train.js';
import { gptTrainingConfig } from '../../src/train/configs.js';
import { ConfigError, NumericsError } from '../../src/errors.js';

const model = { blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32 };

test('train without --world-size: one rank, the engine at stage 0 (one path for every world size)', async () => {
  const lines: string[] = [];
  const r = await train({ steps: 3, model, batchSize: 2, log: (l) => lines.push(l) });
  assert.equal(r.worldSize, 1);
  assert.equal(r.stage, 0);
  assert.equal(r.tokensPerStep, 2 * 16);
  assert.equal(JSON.parse(lines[lines.length - 1]!).train.worldSize, 1);
});

test('train --world-size 2 (default config: stage 2, AdamW, WarmupCosineLR) learns and reports from rank 0', async () => {
  const lines: string[] = [];
  const r = await train({
    worldSize: 2,
    steps: 10,
    model,
    batchSize: 4,
    lr: 1e-2,
    log: (l) => lines.push(l),
  });
  assert.equal(r.worldSize, 2);
  assert.equal(r.stage, 2);
  assert.equal(r.precision, 'fp32');
  assert.equal(r.tokensPerStep, 2 * 4 * 16);
  assert.ok(r.initialLoss > 5 && r.initialLoss < 6, `initial loss ${r.initialLoss} near ln(256)`);
  assert.ok(
    r.valLoss !== null && r.valLoss < r.initialLoss - 0.3,
    `held-out loss ${r.valLoss} well below the initial ${r.initialLoss}`,
  );
  assert.equal(lines.filter((l) => /^step \d+\/10 \| loss /.test(l)).length, 10, 'a loss line per step at 10 steps');
  assert.ok(lines.some((l) => l.startsWith('held-out loss')));
  assert.equal(JSON.parse(lines[lines.length - 1]).train.stage, 2);
  assert.ok(r.commBytesPerStep > 0, 'the ranks communicated');
});

test('train --world-size 1 --config (stage 3, accumulation 2) runs through the engine; a bad key fails early', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-train-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = gptTrainingConfig({ steps: 4, stage: 2, microBatch: 2, lr: 1e-2 });
  const file = join(dir, 'ds.json');
  writeFileSync(file, JSON.stringify({ ...cfg, gradient_accumulation_steps: 2, zero_optimization: { stage: 3 } }));
  const lines: string[] = [];
  const r = await train({
    worldSize: 1,
    config: file,
    steps: 4,
    model,
    log: (l) => lines.push(l),
  });
  assert.equal(r.stage, 3);
  assert.equal(r.tokensPerStep, 2 * 2 * 16);
  assert.ok(
    r.valLoss !== null && Number.isFinite(r.valLoss) && r.valLoss < r.initialLoss,
    `held-out ${r.valLoss} vs initial ${r.initialLoss}`,
  );
  writeFileSync(file, JSON.stringify({ ...cfg, zero_optimisation: { stage: 3 } }));
  await assert.rejects(
    train({ worldSize: 2, config: file, steps: 4, model, log: () => {} }),
    (e: unknown) => e instanceof ConfigError && /zero_optimisation/.test(e.message),
  );
});

test('train: a run that diverges to a NaN loss is a NumericsError, not a success', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-train-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'ds.json');
  // fp16 with a loss scaler that skips every overflowing step: at lr 1e6 the weights blow up within a few steps, the
  // scaler keeps skipping, and the final loss is not finite
  const cfg = gptTrainingConfig({ steps: 6, stage: 0, microBatch: 2, lr: 1e6, clip: 0 });
  writeFileSync(file, JSON.stringify({ ...cfg, bf16: { enabled: false }, fp16: { enabled: true } }));
  await assert.rejects(
    train({ config: file, steps: 6, model, log: () => {} }),
    (e: unknown) => e instanceof NumericsError && /loss/.test(e.message),
  );
});

test('train: one rank with batch 2b trains what two ranks with batch b train (one path, [Note: sampler equivalence])', async () => {
  const one = await train({ steps: 3, model, batchSize: 4, lr: 1e-2, log: () => {} });
  const two = await train({ worldSize: 2, steps: 3, model, batchSize: 2, lr: 1e-2, log: () => {} });
  assert.deepEqual([one.stage, two.stage], [0, 2]);
  one.losses.forEach((l, s) =>
    assert.ok(Math.abs(l - two.losses[s]!) <= 1e-5 * l, `step ${s}: one rank ${l}, two ranks ${two.losses[s]}`),
  );
  assert.ok(Math.abs(one.valLoss! - two.valLoss!) <= 1e-5 * one.valLoss!, `held-out ${one.valLoss} vs ${two.valLoss}`);
});
