// Elastic restart (issue 14 item 9, [Note: elastic restart]): the restart policy against scripted attempts, the
// flags, and the real thing: `zerots launch --max-restarts 3 --nproc-per-node 3 --min-nproc 2 ... zerots train`
// with one rank really killed (SIGKILL) at a random moment after the first checkpoint; the job must finish at 2
// ranks with the final loss of a fault-free 2-rank run resumed from the same checkpoint, bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { optionsFromFlags } from '../../src/cli/launch.js';
import { type AttemptOutcome, nextNproc, runElastic } from '../../src/launch/elastic.js';
import { ConfigError } from '../../src/errors.js';
import { discoverRank } from '../../src/launch/env.js';
import { CLI, LIFE, alive, runCli, until } from '../helpers/launch-cli.js';

const T = { timeout: 120_000 };

/** Scripted attempts: each call takes the next outcome and records (nproc, restartCount). */
function scripted(outs: AttemptOutcome[]) {
  const calls: [number, number][] = [];
  const attempt = async (n: number, k: number) => {
    calls.push([n, k]);
    return outs[calls.length - 1]!;
  };
  return { calls, attempt };
}
const fail = (died: number[]): AttemptOutcome => ({ code: 137, stopped: false, died });
const ok: AttemptOutcome = { code: 0, stopped: false, died: [] };

test('elastic policy: shrink by the ranks that died, never below min; stop at max restarts, on success or a stop', async () => {
  assert.deepEqual([nextNproc(3, 1, 2), nextNproc(3, 2, 2), nextNproc(3, 0, 2), nextNproc(4, 3, 1)], [2, 2, 3, 1]);
  const lines: string[] = [];
  let s = scripted([fail([2]), fail([0, 1]), ok]);
  assert.equal(await runElastic(3, { maxRestarts: 3, minNproc: 1 }, s.attempt, (l) => lines.push(l)), 0);
  assert.deepEqual(s.calls, [
    [3, 0],
    [2, 1],
    [1, 2],
  ]);
  s = scripted([fail([1]), fail([1]), fail([1])]);
  assert.equal(await runElastic(3, { maxRestarts: 2, minNproc: 3 }, s.attempt, (l) => lines.push(l)), 137);
  assert.deepEqual(s.calls, [
    [3, 0],
    [3, 1],
    [3, 2],
  ]);
  assert.match(lines.at(-1)!, /failed after 2 restart\(s\).*giving up/);
  s = scripted([fail([1])]);
  assert.equal(await runElastic(3, { maxRestarts: 0, minNproc: 3 }, s.attempt, (l) => lines.push(l)), 137);
  s = scripted([{ code: 130, stopped: true, died: [] }]);
  assert.equal(await runElastic(3, { maxRestarts: 5, minNproc: 1 }, s.attempt, () => {}), 130);
  assert.equal(s.calls.length, 1);
});

test('elastic flags: --max-restarts, --min-nproc, --nnodes 1:MAX; ZEROTS_RESTART_COUNT reaches the rank', async () => {
  const o = await optionsFromFlags(
    { nprocPerNode: '3', maxRestarts: '3', minNproc: '2', transport: 'tcp' },
    's.js',
    [],
  );
  assert.deepEqual([o.maxRestarts, o.minNproc], [3, 2]);
  const r = await optionsFromFlags(
    { nproc_per_node: '4', max_restarts: '1', nnodes: '1:2', transport: 'tcp' },
    's',
    [],
  );
  assert.deepEqual([r.maxRestarts, r.minNproc, r.nnodes], [1, 1, 1]);
  for (const bad of [
    { minNproc: '2' }, // shrinking without restarts
    { maxRestarts: '2', minNproc: '4' }, // above nproc
    { maxRestarts: '-1' },
    { maxRestarts: '1', nnodes: '2:4' }, // an elastic range across nodes
  ])
    await assert.rejects(optionsFromFlags({ nprocPerNode: '3', transport: 'tcp', ...bad }, 's.js', []), ConfigError);
  assert.equal(discoverRank({ RANK: '0', WORLD_SIZE: '1', ZEROTS_RESTART_COUNT: '2' }).restartCount, 2);
  assert.equal(discoverRank({ RANK: '0', WORLD_SIZE: '1' }).restartCount, 0);
  assert.throws(() => discoverRank({ RANK: '0', WORLD_SIZE: '1', ZEROTS_RESTART_COUNT: 'x' }), ConfigError);
});

/** The launcher's child processes (its ranks), from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch {}
  }
  return out;
}

const jsonLine = (lines: string[]) =>
  (JSON.parse([...lines].reverse().find((l) => l.startsWith('{"train"'))!) as { train: Record<string, number> }).train;

function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-elastic-'));
  return f(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** `zerots train` with train_batch_size fixed: 3 ranks x 2 x accumulation 2 = 2 ranks x 2 x accumulation 3 = 12. */
function trainArgs(dir: string, ...more: string[]): string[] {
  const config = join(dir, 'ds.json');
  const ds = { train_batch_size: 12, train_micro_batch_size_per_gpu: 2, zero_optimization: { stage: 2 } };
  writeFileSync(config, JSON.stringify(ds));
  return [CLI, 'train', '--config', config, '--model', 'tiny', '--steps', '8', '--eval-batches', '0', ...more];
}

test(
  'elastic: a rank SIGKILLed mid-run; the job restarts at 2 ranks from the latest checkpoint and ends with the ' +
    'final loss of a fault-free 2-rank run from that checkpoint (bit for bit)',
  T,
  (t) =>
    withDir(async (dir) => {
      if (!existsSync('/proc/self/stat')) return t.skip('needs /proc to find the ranks');
      const save = join(dir, 'ck');
      const elastic = ['--max-restarts', '3', '--min-nproc', '2'];
      const train = trainArgs(dir, '--save-dir', save, '--save-every', '2');
      const run = runCli(['launch', '--standalone', '--nproc-per-node', '3', ...elastic, ...train]);
      // a random moment after the first checkpoint: mid-step, mid-save or between them
      assert.ok(await until(() => existsSync(join(save, 'latest')), 60_000), run.stderr.join('\n'));
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 300)));
      const ranks = childrenOf(run.child.pid!);
      assert.equal(ranks.length, 3, `the launcher's ranks: ${ranks.join(', ')}`);
      const victim = ranks[Math.floor(Math.random() * 3)]!;
      process.kill(victim, 'SIGKILL');
      const code = await run.done;
      for (const p of childrenOf(run.child.pid!)) if (alive(p)) process.kill(p, 'SIGKILL');
      const all = [...run.stdout, ...run.stderr];
      assert.equal(code, 0, all.join('\n'));
      assert.ok(
        run.stderr.some((l) => /restart 1\/3: rank\(s\) \d did not come back; restarting the job with 2 rank/.test(l)),
        run.stderr.join('\n'),
      );
      const resumed = all.map((l) => /^resumed from (\S+): step (\d+)/.exec(l)).find(Boolean);
      const got = jsonLine(run.stdout);
      assert.deepEqual([got.worldSize, got.restartCount], [2, 1]);
      t.diagnostic(
        `killed pid ${victim}; resumed at 2 ranks from ${resumed?.[1] ?? 'the start'}; final ${got.finalTrainLoss}`,
      );
      // the fault-free reference: 2 ranks from the same checkpoint (or from scratch if the kill came first)
      const from = resumed ? ['--resume', resumed[1]!] : [];
      const ref = runCli(['launch', '--standalone', '--nproc-per-node', '2', ...trainArgs(dir, ...from)]);
      assert.equal(await ref.done, 0, ref.stderr.join('\n'));
      assert.equal(got.finalTrainLoss, jsonLine(ref.stdout).finalTrainLoss);
      assert.ok(Number.isFinite(got.finalTrainLoss));
      // and the uninterrupted 3-rank job: the same training up to the reduction order of the sums over ranks
      const whole = runCli(['launch', '--standalone', '--nproc-per-node', '3', ...trainArgs(dir)]);
      assert.equal(await whole.done, 0, whole.stderr.join('\n'));
      const full = jsonLine(whole.stdout).finalTrainLoss!;
      t.diagnostic(
        `fault-free 2 ranks from that checkpoint ${jsonLine(ref.stdout).finalTrainLoss}; uninterrupted 3 ranks ${full}`,
      );
      assert.ok(Math.abs(got.finalTrainLoss! - full) <= 1e-4, `${got.finalTrainLoss} vs ${full}`);
    }),
);

test('--max-restarts 0 (the default): a killed rank ends the job non-zero, naming the rank; nothing restarts', T, () =>
  withDir(async (dir) => {
    const run = runCli(['launch', '--standalone', '--nproc-per-node', '2', '--max-restarts', '0', LIFE, dir, 'train']);
    assert.ok(await until(() => existsSync(join(dir, 'ready-1')), 30_000), run.stderr.join('\n'));
    const pid = Number(readFileSync(join(dir, 'ready-1'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    const code = await run.done;
    assert.equal(code, 137, run.stderr.join('\n'));
    assert.ok(
      run.stderr.some((l) => new RegExp(`rank 1 \\(pid ${pid}\\) was killed by SIGKILL`).test(l)),
      run.stderr.join('\n'),
    );
    assert.ok(!run.stderr.some((l) => /restart/.test(l)), run.stderr.join('\n'));
  }),
);
