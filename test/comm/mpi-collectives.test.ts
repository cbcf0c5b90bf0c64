// The MPI transport under a real mpirun at 2, 3 and 4 ranks: the collectives fixture (every collective x dtype x
// reduce op, in place and not, sync and async) against the sequential reference, bit for bit, as the threads and
// TCP transports are held to. 2 ranks run both the default staging and a 4 KiB one (segments); 3 ranks the small
// one (the all-to-all path across segments), 4 ranks the default. Skips with the reason without Open MPI or koffi.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { probeLibMpi } from '../../src/comm/mpi/libmpi.js';
import { SIZES } from '../ranks/collectives.js';

const runner = fileURLToPath(new URL('../ranks/mpi-run.js', import.meta.url));
const mpirun = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
const why =
  mpirun.status !== 0 ? 'mpirun is not installed (apt-get install openmpi-bin)' : (probeLibMpi() ?? undefined);
const skip = why === undefined ? false : `no MPI: ${why}`;
if (skip) console.log(`# skipping the MPI transport tests: ${skip}`);

for (const [N, which] of [
  [2, 'both'],
  [3, 'small'],
  [4, 'default'],
] as const) {
  test(`mpi collectives under mpirun -np ${N} (${which} staging)`, { skip, timeout: 120_000 }, () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.ZEROTS_TRANSPORT;
    const r = spawnSync(
      'mpirun',
      ['--allow-run-as-root', '--oversubscribe', '-np', String(N), process.execPath, runner, which],
      { encoding: 'utf8', timeout: 110_000, env },
    );
    assert.equal(r.status, 0, `mpirun exited ${r.status}: ${r.stderr.slice(-2000)}`);
    const lines = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map(
        (l) => JSON.parse(l) as { rank: number; transport: string; failures: string[]; checks: number; calls: object },
      );
    assert.deepEqual(
      lines.map((l) => l.rank).sort(),
      Array.from({ length: N }, (_, i) => i),
    );
    const k = 3 * SIZES.length;
    for (const l of lines) {
      assert.equal(l.transport, 'mpi');
      assert.deepEqual(l.failures, []);
      assert.ok(l.checks > 1000);
      assert.deepEqual(l.calls, {
        all_reduce: 6 * k + 3,
        reduce_scatter: 9 * k,
        all_gather: 3 * k,
        broadcast: 2 * Math.min(N, 2) * k,
        barrier: 1,
      });
    }
  });
}

function mpirunFaults(mode: string): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.ZEROTS_TRANSPORT;
  return spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', '2', process.execPath, faults, mode], {
    encoding: 'utf8',
    timeout: 60_000,
    env,
  });
}
const faults = fileURLToPath(new URL('../ranks/mpi-faults.js', import.meta.url));

test('mpi: a mismatch fails on both ranks with the standard message naming both calls', { skip }, () => {
  const r = mpirunFaults('mismatch');
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{'));
  assert.equal(lines.length, 2);
  for (const l of lines) {
    const { error } = JSON.parse(l) as { error: string };
    assert.match(error, /^CollectiveMismatchError: collective mismatch at sequence number 0/);
    assert.match(error, /count=4/);
    assert.match(error, /count=5/);
  }
});

test('mpi: past the deadline the watchdog prints the timeout and mpirun ends the job', { skip }, () => {
  const r = mpirunFaults('timeout');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /CollectiveTimeoutError: collective timeout: rank 0 waited more than 300 ms in all_reduce/);
  assert.doesNotMatch(r.stdout, /"rank":0/);
});
