// `zerots train` with the MPI transport ([native mpi]): under a plain `mpirun -np 2` (the transport found from
// OMPI_COMM_WORLD_*, nothing set by hand) and started by `zerots train --transport mpi --world-size 2` itself, the
// per-step losses (the --log records) must be those of the 2-thread run, bit for bit, and the JSON line must name
// the MPI transport. Rank 0 closes with the thread run's line: the held-out loss (the mean over the ranks, bit for
// bit the thread run's) and tokens/s. Skips with the reason without Open MPI or koffi.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeLibMpi } from '../../src/comm/mpi/libmpi.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const mpirun = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
const why =
  mpirun.status !== 0 ? 'mpirun is not installed (apt-get install openmpi-bin)' : (probeLibMpi() ?? undefined);
const skip = why === undefined ? false : `no MPI: ${why}`;
if (skip) console.log(`# skipping the train-under-mpirun test: ${skip}`);

const ARGS = ['train', '--model', 'tiny', '--steps', '3', '--eval-batches', '1'];

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(e))
    if (k.startsWith('ZEROTS_') || k.startsWith('OMPI_') || k.startsWith('PMI')) delete e[k];
  return e;
}

interface Run {
  losses: number[];
  record: Record<string, unknown>;
  /** the closing line: held-out loss, tokens/s, peak device memory */
  closing: string;
}

function run(cmd: string, args: string[], log: string): Run {
  const r = spawnSync(cmd, [...args, '--log', log], { encoding: 'utf8', timeout: 100_000, env: env() });
  assert.equal(r.status, 0, `${cmd} exited ${r.status}: ${r.stderr.slice(-2000)}${r.stdout.slice(-2000)}`);
  const last = r.stdout
    .split(/[\r\n]/)
    .filter((l) => l.startsWith('{"train"'))
    .at(-1)!;
  const losses = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { loss: number }).loss);
  const closing = r.stdout.split(/[\r\n]/).filter((l) => l.startsWith('held-out loss '));
  assert.equal(closing.length, 1, `one closing line from rank 0: ${r.stdout.slice(-2000)}`);
  return { losses, record: (JSON.parse(last) as { train: Record<string, unknown> }).train, closing: closing[0]! };
}

test('train under mpirun -np 2 and train --transport mpi: the losses of the 2-thread run', {
  skip,
  timeout: 300_000,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-train-mpi-'));
  try {
    const threads = run(process.execPath, [CLI, ...ARGS, '--world-size', '2'], join(dir, 'threads.jsonl'));
    assert.equal(threads.losses.length, 3);
    assert.equal((threads.record.engine as { transport: string }).transport, 'threads');
    const root = process.getuid?.() === 0 ? ['--allow-run-as-root'] : [];
    const byHand = run(
      'mpirun',
      [...root, '--oversubscribe', '-np', '2', process.execPath, CLI, ...ARGS],
      join(dir, 'a.jsonl'),
    );
    const started = run(
      process.execPath,
      [CLI, ...ARGS, '--transport', 'mpi', '--world-size', '2'],
      join(dir, 'b.jsonl'),
    );
    for (const m of [byHand, started]) {
      assert.deepEqual(m.losses, threads.losses);
      assert.equal(m.record.worldSize, 2);
      // the launched record's loss is the world mean from one f32 all-reduce, as its last progress record
      assert.equal(m.record.finalTrainLoss, m.losses.at(-1));
      assert.equal((m.record.engine as { transport: string }).transport, 'mpi');
      assert.equal(m.record.valLoss, threads.record.valLoss, 'held-out loss: the mean over the ranks, bit for bit');
      assert.ok((m.record.tokensPerSecond as number) > 0, `tokens/s ${m.record.tokensPerSecond}`);
      // the same words as the thread run's line, with this run's figures
      const words = (l: string) => l.replace(/[0-9.]+/g, '#');
      assert.equal(words(m.closing), words(threads.closing), m.closing);
      assert.ok(m.closing.startsWith(`held-out loss ${(threads.record.valLoss as number).toFixed(4)} `), m.closing);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
