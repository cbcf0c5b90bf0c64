// The fault table of issue 14: every fault run through the real CLI, measured. Not a test (it asserts nothing);
// run it with `node dist/test/helpers/fault-table.js` after `npm run build:ts`. Prints a Markdown table
// and ends with one JSON line. Times are wall-clock on this machine (shared machines: repeat, report the range).
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/launch/processes.js';
import { LIFE, alive, runCli, until } from './launch-cli.js';
import type { Run } from './launch-cli.js';

interface Row {
  fault: string;
  detectMs: number | null;
  exit: number | null;
  orphans: number;
  linesLost: number | null;
  note: string;
}

const rows: Row[] = [];
const ready = (dir: string, n: number) => () =>
  Array.from({ length: n }, (_, r) => existsSync(join(dir, `ready-${r}`))).every(Boolean);
const pids = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.startsWith('ready-'))
    .map((f) => Number(readFileSync(join(dir, f), 'utf8')));

/** Lines the ranks appended to lines-<r> that are missing from the launcher's stdout. */
function lost(dir: string, run: Run): number {
  let n = 0;
  const seen = new Set(run.stdout);
  for (const f of readdirSync(dir).filter((x) => x.startsWith('lines-')))
    for (const l of readFileSync(join(dir, f), 'utf8').split('\n')) if (l && !seen.has(l)) n++;
  return n;
}

async function orphans(ps: number[]): Promise<number> {
  await until(() => !ps.some(alive), 10_000);
  const left = ps.filter(alive);
  for (const p of left) process.kill(p, 'SIGKILL');
  return left.length;
}

async function scenario(fault: string, f: (dir: string, port: number) => Promise<Omit<Row, 'fault'>>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-faults-'));
  try {
    rows.push({ fault, ...(await f(dir, await freePort())) });
  } catch (e) {
    rows.push({ fault, detectMs: null, exit: null, orphans: -1, linesLost: null, note: `harness: ${String(e)}` });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const launch = (port: number, n: number, dir: string, mode: string, extra: string[] = [], env = {}) =>
  runCli(['launch', '--master-port', String(port), '--nproc-per-node', String(n), ...extra, LIFE, dir, mode], env);

async function rankFault(dir: string, port: number, signal: NodeJS.Signals): Promise<Omit<Row, 'fault'>> {
  const run = launch(port, 3, dir, 'train-print');
  if (!(await until(ready(dir, 3), 30_000))) throw new Error('not ready');
  await new Promise((r) => setTimeout(r, 1000));
  const ps = pids(dir);
  const victim = Number(readFileSync(join(dir, 'ready-1'), 'utf8'));
  const t0 = Date.now();
  process.kill(victim, signal);
  await until(() => run.stderr.some((l) => l.startsWith('zerots launch: rank')), 60_000);
  const ms = Date.now() - t0;
  const exit = await run.done;
  const summary = run.stderr.find((l) => l.startsWith('zerots launch: rank')) ?? '';
  const note = `exit after ${Date.now() - t0} ms; ${summary.slice(0, 100)}`;
  return { detectMs: ms, exit, orphans: await orphans(ps), linesLost: lost(dir, run), note };
}

await scenario('threads: 3 ranks print 300 lines each', async (dir, port) => {
  const run = launch(port, 3, dir, 'print', ['--transport', 'threads']);
  const exit = await run.done;
  return {
    detectMs: null,
    exit,
    orphans: 0,
    linesLost: 900 - run.stdout.filter((l) => /^rank \d line/.test(l)).length,
    note: '',
  };
});
await scenario('tcp: 3 ranks print 300 lines each', async (dir, port) => {
  const run = launch(port, 3, dir, 'print');
  const exit = await run.done;
  return {
    detectMs: null,
    exit,
    orphans: 0,
    linesLost: 900 - run.stdout.filter((l) => /^rank \d line/.test(l)).length,
    note: '',
  };
});
await scenario('launcher SIGKILL (ranks training, silent)', async (dir, port) => {
  const run = launch(port, 3, dir, 'train');
  if (!(await until(ready(dir, 3), 30_000))) throw new Error('not ready');
  const ps = pids(dir);
  const t0 = Date.now();
  run.child.kill('SIGKILL');
  await until(() => !ps.some(alive), 20_000);
  const ms = Date.now() - t0;
  return {
    detectMs: ms,
    exit: 137,
    orphans: await orphans(ps),
    linesLost: null,
    note: 'time until every rank is gone',
  };
});
await scenario('rank 1 SIGKILL mid-training', (dir, port) => rankFault(dir, port, 'SIGKILL'));
await scenario('rank 1 SIGSTOP mid-training (frozen)', (dir, port) => rankFault(dir, port, 'SIGSTOP'));
await scenario('rank 1 throws at step 20', async (dir, port) => {
  const run = launch(port, 3, dir, 'train-throw');
  const exit = await run.done;
  const summary = run.stderr.find((l) => l.startsWith('zerots launch: rank')) ?? '';
  return {
    detectMs: null,
    exit,
    orphans: await orphans(pids(dir)),
    linesLost: lost(dir, run),
    note: summary.slice(0, 110),
  };
});
await scenario('Ctrl-C (SIGINT to the launcher)', async (dir, port) => {
  const run = launch(port, 3, dir, 'train-print');
  if (!(await until(ready(dir, 3), 30_000))) throw new Error('not ready');
  const ps = pids(dir);
  const t0 = Date.now();
  run.child.kill('SIGINT');
  const exit = await run.done;
  return { detectMs: Date.now() - t0, exit, orphans: await orphans(ps), linesLost: lost(dir, run), note: '' };
});
await scenario('second job on a port in use', async (dir, port) => {
  const a = launch(port, 2, dir, 'train');
  if (!(await until(ready(dir, 2), 30_000))) throw new Error('not ready');
  const bDir = join(dir, 'b');
  rmSync(bDir, { force: true, recursive: true });
  (await import('node:fs')).mkdirSync(bDir);
  const t0 = Date.now();
  const b = launch(port, 2, bDir, 'ok');
  const exit = await b.done;
  const ms = Date.now() - t0;
  const refusals = a.stderr.filter((l) => /refused connection/.test(l)).length;
  writeFileSync(join(dir, 'stop'), '');
  const aExit = await a.done;
  const why = b.stderr.find((l) => /another job/.test(l)) ? 'says "another job (different token)"' : 'no reason';
  return {
    detectMs: ms,
    exit,
    orphans: await orphans(pids(dir)),
    linesLost: null,
    note: `${why}; job A logged ${refusals} refusal(s), exited ${aExit}`,
  };
});
await scenario('missing node, --rdzv-timeout 2', async (dir, port) => {
  const t0 = Date.now();
  const run = launch(port, 1, dir, 'ok', ['--nnodes', '2', '--rdzv-timeout', '2'], { ZEROTS_JOB_TOKEN: 'x' });
  const exit = await run.done;
  const oneLine = !run.stderr.some((l) => /^\s+at /.test(l));
  return {
    detectMs: Date.now() - t0,
    exit,
    orphans: 0,
    linesLost: null,
    note: oneLine ? 'one line, no stack' : 'stack trace',
  };
});
await scenario('unreachable store, ZEROTS_RENDEZVOUS_TIMEOUT_MS=2000', async (dir, port) => {
  const t0 = Date.now();
  const run = launch(port, 1, dir, 'ok', ['--nnodes', '2', '--node-rank', '1'], {
    ZEROTS_JOB_TOKEN: 'x',
    ZEROTS_RENDEZVOUS_TIMEOUT_MS: '2000',
  });
  const exit = await run.done;
  const oneLine = !run.stderr.some((l) => /^\s+at /.test(l));
  return {
    detectMs: Date.now() - t0,
    exit,
    orphans: 0,
    linesLost: null,
    note: oneLine ? 'one line, no stack' : 'stack trace',
  };
});

const cell = (v: number | null) => (v === null ? 'n/a' : String(v));
console.log('| fault | time to detection (ms) | exit code | orphans left | lines lost | note |');
console.log('|---|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.fault} | ${cell(r.detectMs)} | ${cell(r.exit)} | ${r.orphans} | ${cell(r.linesLost)} | ${r.note} |`,
  );
console.log(JSON.stringify({ faultTable: rows }));
