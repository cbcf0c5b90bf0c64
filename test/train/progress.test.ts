// The progress bar draws on every step into any file descriptor (no timer: rank 0's loop never yields), and the
// step log holds one JSON record per step plus one per held-out evaluation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProgressReporter } from '../../src/train/progress.js';
import { ConfigError } from '../../src/errors.js';

test('bar and JSON Lines log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-progress-'));
  try {
    const barFile = join(dir, 'bar.txt');
    const logFile = join(dir, 'run.jsonl');
    const fd = openSync(barFile, 'w');
    const p = new ProgressReporter({ steps: 3, bar: true, fd, columns: 160, logFile });
    for (let s = 1; s <= 3; s++) {
      p.step({
        step: s,
        loss: 5 - s,
        lr: 1e-3,
        gradNorm: 1,
        lossScale: 65536,
        applied: true,
        tokensPerSecond: 1000,
        deviceBytes: 2 ** 20,
        devicePeakBytes: 3 * 2 ** 20,
        elapsedSeconds: s,
      });
      if (s === 2) p.eval(2, 4.5);
    }
    p.stop();
    p.stop();
    closeSync(fd);
    const bar = readFileSync(barFile, 'utf8');
    for (const part of ['step 3/3', '100%', 'loss 2.0000', 'scale 65536', '1000 tok/s', 'peak 3 MiB', 'ETA'])
      assert.ok(bar.includes(part), `bar lacks ${part}: ${JSON.stringify(bar.slice(-200))}`);
    const records = readFileSync(logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      records.map((r) => r.step),
      [1, 2, 2, 3],
    );
    assert.equal(records[2].valLoss, 4.5);
    assert.equal(records[3].loss, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(
    () => new ProgressReporter({ steps: 1, bar: false, fd: 1, logFile: '/nonexistent-dir/x.jsonl' }),
    (e: unknown) => e instanceof ConfigError && e.message.includes('cannot write --log'),
  );
});
