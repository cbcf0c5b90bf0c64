// The life of the processes around training (issue 14): each test is a fault that the launcher or the ranks got
// wrong before, run through the real CLI (`zerots launch`, a child process) with real processes and sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreClient } from '../../src/comm/tcp/store.js';
import { freePort } from '../../src/launch/processes.js';
import { LIFE, alive, runCli, until } from '../helpers/launch-cli.js';

const T = { timeout: 60_000 };

function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-life-'));
  return f(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

const ready = (dir: string, n: number) => () =>
  Array.from({ length: n }, (_, r) => existsSync(join(dir, `ready-${r}`))).every(Boolean);
const pidOf = (dir: string, r: number) => Number(readFileSync(join(dir, `ready-${r}`), 'utf8'));

for (const transport of ['threads', 'tcp'] as const) {
  test(`launch ${transport}: every line every rank prints reaches the launcher's stdout, in order per rank`, T, () =>
    withDir(async (dir) => {
      const run = runCli([
        'launch',
        '--transport',
        transport,
        '--standalone',
        '--nproc-per-node',
        '3',
        LIFE,
        dir,
        'print',
      ]);
      assert.equal(await run.done, 0, run.stderr.join('\n'));
      for (let r = 0; r < 3; r++) {
        const mine = run.stdout.filter((l) => l.startsWith(`rank ${r} `));
        assert.deepEqual(
          mine,
          Array.from({ length: 300 }, (_, i) => `rank ${r} line ${i}`),
          `rank ${r}: ${mine.length} of 300 lines`,
        );
      }
    }),
  );
}

test('launcher killed by SIGKILL: its training ranks (busy, silent) stop by themselves, no orphans', T, (t) =>
  withDir(async (dir) => {
    const run = runCli(['launch', '--standalone', '--nproc-per-node', '2', LIFE, dir, 'train']);
    assert.ok(await until(ready(dir, 2), 30_000), `ranks never got ready: ${run.stderr.join('\n')}`);
    const pids = [pidOf(dir, 0), pidOf(dir, 1)];
    const t0 = Date.now();
    run.child.kill('SIGKILL');
    const gone = await until(() => !pids.some(alive), 20_000);
    for (const p of pids) if (alive(p)) process.kill(p, 'SIGKILL'); // never leave them behind, even on failure
    assert.ok(gone, `ranks ${pids.filter(alive).join(', ')} still running 20 s after the launcher died`);
    t.diagnostic(`both ranks gone ${Date.now() - t0} ms after the launcher's SIGKILL`);
    assert.ok(!existsSync(join(dir, 'done-0')) && !existsSync(join(dir, 'done-1')), 'the ranks finished instead');
  }),
);

test("the store answers and logs a refusal while rank 0's main thread trains", T, () =>
  withDir(async (dir) => {
    const port = await freePort();
    const run = runCli(['launch', '--master-port', String(port), '--nproc-per-node', '2', LIFE, dir, 'train']);
    try {
      assert.ok(await until(ready(dir, 2), 30_000), `ranks never got ready: ${run.stderr.join('\n')}`);
      // rank 0 is in its training loop now (no event loop turns on its main thread until stop exists)
      await assert.rejects(
        StoreClient.connect('127.0.0.1', port, { token: 'wrong', rank: 1, worldSize: 2, group: 0, timeoutMs: 20_000 }),
        /another job \(different token\) is listening/,
      );
      const logged = await until(
        () => run.stderr.some((l) => /zerots store: refused .*wrong job token/.test(l)),
        20_000,
      );
      assert.ok(!existsSync(join(dir, 'done-0')), 'rank 0 stopped training before the check');
      assert.ok(logged, `no refusal logged while rank 0 trains; stderr: ${run.stderr.join('\n')}`);
    } finally {
      writeFileSync(join(dir, 'stop'), '');
    }
    assert.equal(await run.done, 0, run.stderr.join('\n'));
  }),
);

test('a second job on a port in use stops at the first authentication failure and says why', T, () =>
  withDir(async (dir) => {
    const port = await freePort();
    const a = runCli(['launch', '--master-port', String(port), '--nproc-per-node', '2', LIFE, dir, 'train']);
    try {
      assert.ok(await until(ready(dir, 2), 30_000), `job A never got ready: ${a.stderr.join('\n')}`);
      const b = runCli(['launch', '--master-port', String(port), '--nproc-per-node', '2', LIFE, dir, 'ok']);
      assert.notEqual(await b.done, 0);
      const text = b.stderr.join('\n');
      assert.match(text, new RegExp(`another job \\(different token\\) is listening on port ${port}`));
      assert.doesNotMatch(text, /^\s+at /m, 'a stack trace');
      // one attempt of job B's rank 1, not a retry loop flooding job A's log (A's line may come a moment after B)
      const refusals = () => a.stderr.filter((l) => /refused connection/.test(l)).length;
      await until(() => refusals() > 0, 10_000);
      assert.equal(refusals(), 1, a.stderr.join('\n'));
    } finally {
      writeFileSync(join(dir, 'stop'), '');
    }
    assert.equal(await a.done, 0, a.stderr.join('\n'));
  }),
);

test('--rdzv-timeout: a missing node is one line naming the address and the missing rank', T, () =>
  withDir(async (dir) => {
    const port = await freePort();
    const run = runCli(
      ['launch', '--nnodes', '2', '--node-rank', '0', '--nproc-per-node', '1', '--master-port', String(port)].concat([
        '--rdzv-timeout',
        '2',
        LIFE,
        dir,
        'ok',
      ]),
      { ZEROTS_JOB_TOKEN: 'a-shared-secret' },
    );
    assert.equal(await run.done, 1);
    const text = run.stderr.join('\n');
    assert.match(
      text,
      new RegExp(
        `zerots launch: rank 0 \\(pid \\d+\\) exited with code 1: RendezvousError: rank 0: rank 1 of 2 did not ` +
          `join the rendezvous at 127\\.0\\.0\\.1:${port} within 2000 ms`,
      ),
    );
    assert.doesNotMatch(text, /^\s+at /m, 'a stack trace');
  }),
);

test('ZEROTS_RENDEZVOUS_TIMEOUT_MS: an unreachable store is one line naming the address', T, () =>
  withDir(async (dir) => {
    const port = await freePort();
    const run = runCli(
      ['launch', '--nnodes', '2', '--node-rank', '1', '--nproc-per-node', '1', '--master-port', String(port)].concat([
        LIFE,
        dir,
        'ok',
      ]),
      { ZEROTS_JOB_TOKEN: 'a-shared-secret', ZEROTS_RENDEZVOUS_TIMEOUT_MS: '1500' },
    );
    assert.equal(await run.done, 1);
    const text = run.stderr.join('\n');
    assert.match(
      text,
      new RegExp(
        `rank 1 \\(pid \\d+\\) exited with code 1: RendezvousError: rank 1 could not reach the rendezvous store ` +
          `at 127\\.0\\.0\\.1:${port} within 1500 ms \\(last attempt: ECONNREFUSED\\)`,
      ),
    );
    assert.doesNotMatch(text, /^\s+at /m, 'a stack trace');
  }),
);

test('two nodes on one host (127.0.0.2 and 127.0.0.3, ZEROTS_NODE_ID): TCP between them, Unix sockets within', T, () =>
  withDir(async (dir) => {
    const port = String(await freePort('127.0.0.2'));
    const node = (k: number, addr: string) =>
      runCli(
        [
          'launch',
          '--nnodes',
          '2',
          '--node-rank',
          String(k),
          '--nproc-per-node',
          '2',
          '--master-addr',
          '127.0.0.2',
        ].concat(['--master-port', port, LIFE, dir, 'ok']),
        { ZEROTS_JOB_TOKEN: 'two-node-secret', ZEROTS_BIND_ADDR: addr, ZEROTS_NODE_ID: `node-${k}` },
      );
    const runs = [node(0, '127.0.0.2'), node(1, '127.0.0.3')];
    const codes = await Promise.all(runs.map((r) => r.done));
    assert.deepEqual(codes, [0, 0], runs.map((r) => r.stderr.join('\n')).join('\n'));
    const addrOf = (rank: number) => (rank < 2 ? '127.0.0.2' : '127.0.0.3');
    for (let r = 0; r < 4; r++) {
      const got = JSON.parse(readFileSync(join(dir, `links-${r}.json`), 'utf8'));
      assert.equal(got.sum, 1 + 2 + 3 + 4);
      assert.equal(got.links.length, 3);
      for (const l of got.links as { peer: number; via: string; local: string; remote: string }[]) {
        const sameNode = addrOf(l.peer) === addrOf(r);
        assert.equal(l.via, sameNode ? 'unix' : 'tcp', `rank ${r} -> ${l.peer}`);
        if (!sameNode) {
          assert.equal(l.local.split(':')[0], addrOf(r), `rank ${r} -> ${l.peer} leaves from its own address`);
          assert.equal(l.remote.split(':')[0], addrOf(l.peer));
        }
      }
    }
  }),
);

test("a rank that throws: the launcher's summary names that rank and quotes its error", T, () =>
  withDir(async (dir) => {
    const run = runCli(['launch', '--standalone', '--nproc-per-node', '3', LIFE, dir, 'train-throw']);
    assert.equal(await run.done, 1);
    assert.match(
      run.stderr.join('\n'),
      /zerots launch: rank 1 \(pid \d+\) exited with code 1: Error: boom at step 20 \(then rank \d exited/,
    );
  }),
);
