// Faults and bad input: corrupted and truncated shards, a model that does not fit, a newer format, a save called on
// one rank only, a rank whose write fails, an unwritable folder, and a process SIGKILLed in the middle of a save.
// Every failure is a CheckpointError (or the transport's named error) on every rank, and the previous checkpoint
// stays loadable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  openSync,
  readFileSync,
  readdirSync,
  truncateSync,
  writeFileSync,
  writeSync,
  closeSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CkptCase } from '../ranks/checkpoint-ranks.js';
import { bits, noErrors, runCase, tempDir } from '../helpers/checkpoint.js';

const child = fileURLToPath(new URL('../ranks/checkpoint-child.js', import.meta.url));

test('corrupted shard, truncated shard, newer format: CheckpointError on every rank naming the file', async (t) => {
  const dir = tempDir(t);
  const base: CkptCase = { stage: 2, precision: 'fp32', worldSize: 2, gas: 1, steps: 3, dir };
  noErrors(await runCase({ ...base, saveAt: [1, 2, 3] }));
  // step-1: shard 0 loses its last 100 bytes; step-2: one byte of shard 1 flipped; step-3: a format from the future
  const s0 = join(dir, 'step-1', 'shard-00000-of-00002.safetensors');
  truncateSync(s0, statSync(s0).size - 100);
  const s1 = join(dir, 'step-2', 'shard-00001-of-00002.safetensors');
  const fd = openSync(s1, 'r+');
  const at = Math.floor(statSync(s1).size / 2);
  const b = Buffer.alloc(1);
  b[0] = readFileSync(s1)[at] ^ 0x40;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
  const mf = join(dir, 'step-3', 'manifest.json');
  writeFileSync(mf, readFileSync(mf, 'utf8').replace('"formatVersion": 1', '"formatVersion": 2'));
  for (const [tag, file, what] of [
    ['step-1', 'shard-00000-of-00002.safetensors', /truncated.*checksum mismatch/],
    ['step-2', 'shard-00001-of-00002.safetensors', /sha256 checksum mismatch/],
    ['step-3', 'manifest.json', /format version 2, newer than this zerots reads \(up to 1\)/],
  ] as const) {
    for (const N of [2, 1]) {
      const res = await runCase({ ...base, worldSize: N, resume: { dir, tag } });
      for (const r of res)
        assert.equal(r.error?.name, 'CheckpointError', `${tag} N ${N} rank ${r.rank}: ${r.error?.message}`);
      const named = res.filter((r) => r.error!.message.includes(file) && what.test(r.error!.message));
      assert.ok(named.length >= 1, `${tag}: ${res.map((r) => r.error!.message).join(' | ')}`);
    }
  }
});

test('a model that does not fit: the missing, unexpected and wrongly shaped names', async (t) => {
  const dir = tempDir(t);
  const base: CkptCase = { stage: 3, precision: 'fp32', worldSize: 2, gas: 1, steps: 1, dir };
  noErrors(await runCase({ ...base, saveAt: [1] }));
  const [deeper] = await runCase({ ...base, worldSize: 1, model: { nLayer: 3 }, resume: { dir } });
  assert.equal(deeper.error?.name, 'CheckpointError');
  assert.match(deeper.error!.message, /missing in the checkpoint \(12\): h\.2\.ln_1\.weight, /);
  const [other] = await runCase({ ...base, worldSize: 1, model: { nLayer: 1, vocabSize: 24 }, resume: { dir } });
  assert.match(other.error!.message, /unexpected \(not in the model\) \(12\): h\.1\.ln_1\.weight/);
  assert.match(other.error!.message, /wrongly shaped \(1\): wte\.weight \(checkpoint \[23, 10\], model \[24, 10\]\)/);
});

test('saveCheckpoint on rank 0 only: every rank fails with a named error, none hangs; a failing rank publishes nothing', async (t) => {
  const dir = tempDir(t);
  const base: CkptCase = { stage: 2, precision: 'fp32', worldSize: 2, gas: 1, steps: 3, dir };
  const res = await runCase({ ...base, onlyRank0SavesAt: 1 });
  assert.equal(res[0].error?.name, 'CheckpointError');
  assert.match(res[0].error!.message, /is collective: every rank must call it at the same point/);
  assert.equal(res[1].error?.name, 'CollectiveMismatchError', res[1].error?.message);
  // rank 1's write fails at step 2 (after a good save at step 1): both ranks say so, step-1 stays latest
  const fail = await runCase({ ...base, saveAt: [1], failRankAt: { rank: 1, step: 2 } });
  assert.match(fail[1].error!.message, /failed on rank 1: ENOSPC.*nothing was published/);
  assert.match(fail[0].error!.message, /rank 1 could not write its part/);
  assert.equal(readFileSync(join(dir, 'latest'), 'utf8').trim(), 'step-1');
  assert.deepEqual(readdirSync(dir).sort(), ['latest', 'step-1']);
  const back = await runCase({ ...base, resume: { dir } });
  noErrors(back);
  assert.equal(back[0].report?.globalSteps, 1);
});

test('an unwritable folder: a clear error, the previous checkpoint intact and loadable', async (t) => {
  const dir = tempDir(t);
  const base: CkptCase = { stage: 1, precision: 'fp32', worldSize: 1, gas: 1, steps: 2, dir };
  noErrors(await runCase({ ...base, saveAt: [1] }));
  chmodSync(dir, 0o555);
  // root ignores permissions: run the job as nobody then (a real EACCES either way)
  const asRoot = process.getuid?.() === 0;
  let r: SpawnSyncReturns<string>;
  try {
    r = spawnSync(process.execPath, [child, JSON.stringify({ ...base, saveAt: [2] })], {
      encoding: 'utf8',
      timeout: 60_000,
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
  } finally {
    chmodSync(dir, 0o755);
  }
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, `child output: ${r.stdout} ${r.stderr}`);
  const [err] = JSON.parse(line.slice(7)) as { name: string; message: string }[];
  assert.equal(err.name, 'CheckpointError');
  assert.match(err.message, /cannot create it \(EACCES.*nothing was published/);
  assert.deepEqual(readdirSync(dir).sort(), ['latest', 'step-1']);
  const back = await runCase({ ...base, resume: { dir } });
  noErrors(back);
  assert.equal(back[0].report?.globalSteps, 1);
});

for (const phase of ['shard-written', 'renamed'] as const) {
  test(`SIGKILL in the middle of a save (${phase}): the previous checkpoint loads and resumes exactly`, async (t) => {
    const dir = tempDir(t);
    const base: CkptCase = { stage: 3, precision: 'fp32', worldSize: 2, gas: 1, steps: 4, dir };
    const proc = spawn(process.execPath, [
      child,
      JSON.stringify({ ...base, saveAt: [2, 4], blockAt: { step: 4, phase } }),
    ]);
    let out = '';
    const losses = await new Promise<number[]>((resolve, reject) => {
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /BLOCKED \S+ (\[.*\])\n/.exec(out);
        if (m !== null) {
          proc.kill('SIGKILL');
          resolve(JSON.parse(m[1]) as number[]);
        }
      });
      proc.on('exit', () => reject(new Error(`child exited before blocking: ${out}`)));
    });
    await new Promise((r) => proc.once('close', r));
    assert.equal(proc.signalCode, 'SIGKILL');
    assert.equal(readFileSync(join(dir, 'latest'), 'utf8').trim(), 'step-2');
    assert.ok(readdirSync(dir).some((f) => f.startsWith(phase === 'renamed' ? 'step-4' : '.tmp-step-4-')));
    const back = await runCase({ ...base, resume: { dir } });
    noErrors(back);
    assert.equal(back[0].report?.globalSteps, 2);
    for (const s of [2, 3])
      assert.deepEqual(bits(Float32Array.of(back[0].losses[s]!)), bits(Float32Array.of(losses[s])), `step ${s + 1}`);
    assert.ok(existsSync(join(dir, 'step-2', 'manifest.json')));
  });
}
