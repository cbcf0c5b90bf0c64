// `zerots train --world-size N`: the ZeRO engine on thread ranks, end to end on a tiny GPT. The default config
// (stage 2, fp32, AdamW, WarmupCosineLR) at N = 2 learns (held-out loss below the initial ln(256)-ish loss) and
// reports from rank 0; a config file with stage 3 and gradient accumulation at N = 1 (world size 1 with --config goes
// through the engine too); a bad config key fails before any rank starts, naming the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train, usesZero } from '../../src/cli/train.js';
import { defaultZeroConfig, type ZeroTrainReport } from '../../src/train/zero-train.js';
import { ConfigError } from '../../src/errors.js';

const model = { blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32 };

test('usesZero: world size > 1, or world size with a config', () => {
  assert.equal(usesZero({}), false);
  assert.equal(usesZero({ config: 'x.json' }), false);
  assert.equal(usesZero({ worldSize: 1 }), false);
  assert.equal(usesZero({ worldSize: 1, config: 'x.json' }), true);
  assert.equal(usesZero({ worldSize: 2 }), true);
});

test('train --world-size 2 (default config: stage 2, AdamW, WarmupCosineLR) learns and reports from rank 0', async () => {
  const lines: string[] = [];
  const r = (await train({
    worldSize: 2,
    steps: 10,
    model,
    batchSize: 4,
    lr: 1e-2,
    log: (l) => lines.push(l),
  })) as ZeroTrainReport;
  assert.equal(r.worldSize, 2);
  assert.equal(r.stage, 2);
  assert.equal(r.precision, 'fp32');
  assert.equal(r.tokensPerStep, 2 * 4 * 16);
  assert.ok(r.initialLoss > 5 && r.initialLoss < 6, `initial loss ${r.initialLoss} near ln(256)`);
  assert.ok(r.valLoss < r.initialLoss - 0.3, `held-out loss ${r.valLoss} well below the initial ${r.initialLoss}`);
  assert.equal(lines.filter((l) => /^step \d+\/10 \| loss /.test(l)).length, 10, 'a loss line per step at 10 steps');
  assert.ok(lines.some((l) => l.startsWith('held-out loss')));
  assert.equal(JSON.parse(lines[lines.length - 1]).train.stage, 2);
  assert.ok(r.commBytesPerStep > 0, 'the ranks communicated');
});

test('train --world-size 1 --config (stage 3, accumulation 2) runs through the engine; a bad key fails early', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-train-'));
  const cfg = defaultZeroConfig(4, { microBatch: 2, lr: 1e-2 }) as Record<string, unknown>;
  const file = join(dir, 'ds.json');
  writeFileSync(file, JSON.stringify({ ...cfg, gradient_accumulation_steps: 2, zero_optimization: { stage: 3 } }));
  const lines: string[] = [];
  const r = (await train({
    worldSize: 1,
    config: file,
    steps: 4,
    model,
    log: (l) => lines.push(l),
  })) as ZeroTrainReport;
  assert.equal(r.stage, 3);
  assert.equal(r.tokensPerStep, 2 * 2 * 16);
  assert.ok(
    Number.isFinite(r.valLoss) && r.valLoss < r.initialLoss,
    `held-out ${r.valLoss} vs initial ${r.initialLoss}`,
  );
  writeFileSync(file, JSON.stringify({ ...cfg, zero_optimisation: { stage: 3 } }));
  await assert.rejects(
    train({ worldSize: 2, config: file, steps: 4, model, log: () => {} }),
    (e: unknown) => e instanceof ConfigError && /zero_optimisation/.test(e.message),
  );
});
