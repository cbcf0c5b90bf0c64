// `zerots train` answers bad input with one clear line on stderr and a non-zero exit, never a stack trace
// (--verbose shows it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'zerots-bad-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

function zerots(...args: string[]) {
  return spawnSync(process.execPath, [main, 'train', '--steps', '1', ...args], { encoding: 'utf8', timeout: 60_000 });
}

const cases: [string, string[], string][] = [
  ['a wrong flag', ['--bogus'], "unknown option '--bogus'"],
  ['a bad flag value', ['--micro-batch', 'x'], '--micro-batch must be an integer'],
  ['a missing data file', ['--data', join(dir, 'missing.txt')], 'cannot read --data'],
  ['a malformed JSONL line', ['--data', file('bad.jsonl', '{"text":"ok"}\n{"text": nope}\n')], 'bad.jsonl line 2'],
  ['an unknown tokenizer', ['--tokenizer', 'bpe'], 'unknown tokenizer "bpe"'],
  ['an unknown model', ['--model', 'gpt3'], 'unknown model "gpt3"'],
  ['a missing config', ['--config', join(dir, 'none.json')], 'cannot read config'],
  ['a config whose content is null', ['--config', file('null.json', 'null\n')], 'the config is null'],
  ['a config that is not JSON', ['--config', file('broken.json', '{"stage": ')], 'is not valid JSON'],
  [
    'an invalid config',
    ['--config', file('bad.json', '{"zero_optimization": {"stage": 7}}')],
    'zero_optimization.stage',
  ],
  [
    'a flag the config contradicts',
    ['--lr', '0.1', '--config', file('lr.json', '{"optimizer": {"type": "AdamW", "params": {"lr": 0.001}}}')],
    'set it to "auto"',
  ],
];

for (const [what, args, expect] of cases) {
  test(`${what}: one line, non-zero exit, no stack`, () => {
    const r = zerots(...args);
    assert.notEqual(r.status, 0, r.stdout);
    const lines = r.stderr.trim().split('\n');
    assert.ok(lines[0]!.includes(expect), `stderr: ${r.stderr}`);
    assert.ok(lines.length <= 2, `at most the line and a hint: ${r.stderr}`);
    assert.ok(!/\n\s+at /.test(r.stderr), `no stack: ${r.stderr}`);
  });
}

test('--verbose shows the stack', () => {
  const r = zerots('--tokenizer', 'bpe', '--verbose');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /\n\s+at /);
});
