// Real-world DeepSpeed config shapes (test/fixtures/ds-configs) train 2 steps unchanged through `zerots train` at
// world size 2: "auto" filled from the flags, offload on host memory, AdamW where the config names no optimizer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { train } from '../../src/cli/train.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'ds-configs');
const MODEL = { blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32 };

for (const name of readdirSync(DIR).filter((f) => f.endsWith('.json'))) {
  test(`${name} trains 2 steps at world size 2`, async () => {
    const lines: string[] = [];
    const r = await train({
      config: join(DIR, name),
      worldSize: 2,
      steps: 2,
      microBatch: 2,
      model: MODEL,
      evalBatches: 1,
      hostMib: 64,
      log: (l) => lines.push(l),
    });
    assert.equal(r.steps, 2);
    assert.ok(Number.isFinite(r.finalLoss) && r.valLoss !== null && Number.isFinite(r.valLoss));
    const last = JSON.parse(lines[lines.length - 1]!);
    assert.equal(last.train.steps, 2);
    assert.ok('finalTrainLoss' in last.train && 'valLoss' in last.train);
    // every filled value is listed once, before training starts
    const filled = lines.filter((l) => l.startsWith('config: ') && l.includes(' = '));
    assert.equal(new Set(filled).size, filled.length);
    const start = lines.findIndex((l) => l.startsWith('training GPT'));
    assert.ok(
      lines.slice(start).every((l) => !l.startsWith('config: ')),
      'notices come first, once',
    );
  });
}

test('GPT-2 BPE on a JSONL file, a model from a dimensions file, 2 steps at world size 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-train-'));
  try {
    const data = join(dir, 'd.jsonl');
    const text = Array.from({ length: 200 }, (_, i) => JSON.stringify({ text: `In the beginning ${i} was the word.` }));
    writeFileSync(data, `${text.join('\n')}\n`);
    const model = join(dir, 'm.json');
    writeFileSync(model, JSON.stringify({ ...MODEL, vocabSize: 50257 }));
    const log = join(dir, 'run.jsonl');
    const lines: string[] = [];
    const r = await train({
      data,
      tokenizer: 'gpt2',
      model,
      worldSize: 2,
      steps: 2,
      microBatch: 2,
      evalBatches: 1,
      evalEvery: 1,
      logFile: log,
      log: (l) => lines.push(l),
    });
    assert.ok(r.initialLoss > 10 && r.initialLoss < 11.5, `initial loss ${r.initialLoss} near ln(50257)`);
    assert.ok(lines.some((l) => l.includes('gpt2 tokens')));
    assert.ok(
      lines.some((l) => l.includes('step 1/2: held-out loss')),
      '--eval-every 1 evaluates after step 1',
    );
    const records = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      records.map((x) => [x.step, 'valLoss' in x]),
      [
        [1, false],
        [1, true],
        [2, false],
      ],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
