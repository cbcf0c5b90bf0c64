// The CLI entry points run end to end on a tiny model: train reports a held-out loss, bench train its JSON line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { train } from '../../src/cli/train.js';
import { benchTrain } from '../../src/cli/bench-train.js';

test('train: a few steps of a tiny GPT report train and held-out loss', async () => {
  const lines: string[] = [];
  const r = await train({
    steps: 8,
    model: { blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32 },
    batchSize: 4,
    lr: 1e-2,
    log: (l) => lines.push(l),
  });
  assert.equal(r.steps, 8);
  assert.ok(r.initialLoss > 5 && r.initialLoss < 6, `initial loss ${r.initialLoss} near ln(256)`);
  assert.ok(
    r.valLoss !== null && r.valLoss < r.initialLoss,
    `held-out loss ${r.valLoss} below the initial ${r.initialLoss}`,
  );
  assert.deepEqual(JSON.parse(lines[lines.length - 1]).train.steps, 8);
  await assert.rejects(train({ worldSize: 0, log: () => {} }), /world size 0/);
});

test('bench train: tiny model, both thread counts, without PyTorch', async () => {
  const lines: string[] = [];
  const r = await benchTrain({
    steps: 1,
    noTorch: true,
    model: { vocabSize: 256, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32 },
    batchSize: 2,
    log: (l) => lines.push(l),
  });
  const last = JSON.parse(lines[lines.length - 1]);
  assert.equal(last.bench, 'train');
  assert.ok(last.tokens_per_s > 0 && r.torch_tokens_per_s === null && r.ratio === null);
  assert.ok(
    lines.some((l) => l.includes('matmul')),
    'a per-kernel profile is printed',
  );
});
