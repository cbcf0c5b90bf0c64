import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ConfigError } from '../../src/errors.js';
import {
  ByteTokenizer,
  createTokenizer,
  encodeDocuments,
  loadTextDataset,
  parseJsonl,
  readTextData,
  trainValSplit,
} from '../../src/data/index.js';
import { MODEL_PRESETS, modelForTokenizer, modelFromJson, modelPreset } from '../../src/nn/presets.js';

const dir = mkdtempSync(join(tmpdir(), 'zerots-data-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function throwsConfig(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    for (const p of parts) assert.ok(e.message.includes(p), `${JSON.stringify(e.message)} lacks ${JSON.stringify(p)}`);
    return true;
  });
}

test('JSONL: the text fields in order, blank lines skipped; a malformed line names its number', () => {
  assert.deepEqual(parseJsonl('{"text":"a"}\n\n{"text":"b","id":3}\n', 'f.jsonl'), ['a', 'b']);
  throwsConfig(() => parseJsonl('{"text":"a"}\n{"text": oops}\n', 'f.jsonl'), 'f.jsonl line 2', 'not valid JSON');
  throwsConfig(() => parseJsonl('{"text":"a"}\n\n{"body":"x"}', 'f.jsonl'), 'line 3', '"text" field');
  throwsConfig(() => parseJsonl('{"text":7}', 'f.jsonl'), 'line 1', 'must be a string');
});

test('files: plain text is one document, .jsonl(.gz) is JSON Lines; unreadable or empty is a ConfigError', () => {
  const txt = join(dir, 'a.txt');
  writeFileSync(txt, 'hello\nworld\n');
  assert.deepEqual(readTextData(txt), { format: 'text', documents: ['hello\nworld\n'] });
  const jl = join(dir, 'b.jsonl.gz');
  writeFileSync(jl, gzipSync('{"text":"one"}\n{"text":"two"}\n'));
  assert.deepEqual(readTextData(jl), { format: 'jsonl', documents: ['one', 'two'] });
  throwsConfig(() => readTextData(join(dir, 'missing.txt')), 'cannot read --data', 'missing.txt');
  const empty = join(dir, 'e.jsonl');
  writeFileSync(empty, '\n\n');
  throwsConfig(() => readTextData(empty), 'holds no text');
});

test('documents join with the end-of-text id (GPT-2) or a newline (bytes)', async () => {
  const bytes = encodeDocuments(['ab', 'c'], new ByteTokenizer());
  assert.deepEqual([...bytes], [97, 98, 10, 99]);
  const gpt2 = await createTokenizer('gpt2');
  assert.equal(gpt2.vocabSize, 50257);
  // GPT-2's published ids: "Hello" 15496, " world" 995, <|endoftext|> 50256
  assert.deepEqual([...encodeDocuments(['Hello world', 'Hello'], gpt2)], [15496, 995, 50256, 15496]);
  assert.equal(gpt2.decode(gpt2.encode(' the cat sat.')), ' the cat sat.');
  await assert.rejects(createTokenizer('gtp2'), (e: unknown) => e instanceof ConfigError && e.message.includes('gpt2'));
});

test('loadTextDataset: --data through the tokenizer; the split keeps the tail for validation', async () => {
  const jl = join(dir, 'c.jsonl');
  writeFileSync(
    jl,
    `${Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: `document ${i} text` })).join('\n')}\n`,
  );
  const ds = await loadTextDataset({ data: jl, tokenizer: 'gpt2' });
  assert.equal(ds.documents, 40);
  assert.equal(ds.tokens.filter((t) => t === 50256).length, 39);
  const { train, val } = trainValSplit(ds.tokens, 0.1);
  assert.equal(train.length + val.length, ds.tokens.length);
  const shipped = await loadTextDataset();
  assert.ok(shipped.tokens instanceof Uint8Array && shipped.tokens.length > 900_000);
});

test("model presets: GPT-2's sizes, tiny, a dimensions file (ours or Hugging Face's config.json)", () => {
  assert.deepEqual(modelPreset('gpt2'), { vocabSize: 50257, blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768 });
  assert.equal(modelPreset('gpt2-xl').nEmbd, 1600);
  assert.equal(Object.keys(MODEL_PRESETS).length, 5);
  throwsConfig(() => modelPreset('gpt-2'), 'unknown model', 'Did you mean "gpt2"?');
  assert.equal(modelForTokenizer(modelPreset('tiny'), 50257, 'tiny').vocabSize, 50257);
  throwsConfig(() => modelForTokenizer({ ...modelPreset('tiny'), vocabSize: 256 }, 50257, 'm.json'), 'smaller');
  const hf = {
    model_type: 'gpt2',
    n_layer: 2,
    n_head: 2,
    n_embd: 32,
    n_positions: 128,
    vocab_size: 50257,
    activation_function: 'gelu_new',
  };
  assert.deepEqual(modelFromJson(hf, 'config.json'), {
    nLayer: 2,
    nHead: 2,
    nEmbd: 32,
    blockSize: 128,
    vocabSize: 50257,
  });
  throwsConfig(
    () => modelFromJson({ ...modelPreset('tiny'), nLayers: 3 }, 'm.json'),
    'unknown key "nLayers"',
    'nLayer',
  );
  throwsConfig(() => modelFromJson({ ...modelPreset('tiny'), nHead: 3 }, 'm.json'), 'not a multiple');
  throwsConfig(() => modelFromJson(null, 'm.json'), 'JSON object');
});
