// `zerots launch`: starts this node's ranks of a job and watches them.
//   --transport tcp (default): one process per rank (`node script args`), each given RANK, WORLD_SIZE, LOCAL_RANK,
//     LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ZEROTS_TRANSPORT and the job's secret ZEROTS_JOB_TOKEN (made here
//     for a one-node job; a multi-node job needs the same ZEROTS_JOB_TOKEN exported on every node).
//   --transport threads: one worker thread per rank in this process (one node only).
// The script finds its rank with initFromEnv() (src/launch/index.ts). If a rank dies (non-zero exit, signal), the
// launcher names it, gives the others a moment to notice (they fail with PeerLostError), stops the rest and exits
// non-zero. Ctrl-C / SIGTERM stops every rank.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.js';
import { inheritedEnv } from '../launch/env.js';
import { startThreads } from '../launch/threads.js';

export interface LaunchOptions {
  nprocPerNode: number;
  transport: 'threads' | 'tcp';
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  masterPort?: number;
  script: string;
  args: string[];
  /** where the launcher's own lines go (default: stderr). */
  log?: (line: string) => void;
  /** stops every rank when aborted, like Ctrl-C. */
  signal?: AbortSignal;
  /** set process.exitCode to the result (default true; the CLI relies on it). */
  setExitCode?: boolean;
  /** extra environment for the ranks (tcp). */
  env?: Record<string, string>;
  /** how long the other ranks get after one died before they are stopped (default 10 s). */
  graceMs?: number;
}

function check(o: LaunchOptions): void {
  const int = (v: unknown, min: number, key: string) => {
    if (!Number.isInteger(v) || (v as number) < min)
      throw new ConfigError(`launch: ${key} must be an integer >= ${min}, got ${String(v)}`, key);
  };
  int(o.nprocPerNode, 1, 'nprocPerNode');
  int(o.nnodes ?? 1, 1, 'nnodes');
  int(o.nodeRank ?? 0, 0, 'nodeRank');
  if ((o.nodeRank ?? 0) >= (o.nnodes ?? 1))
    throw new ConfigError(`launch: nodeRank ${o.nodeRank} must be below nnodes ${o.nnodes ?? 1}`, 'nodeRank');
  if (o.masterPort !== undefined && (!Number.isInteger(o.masterPort) || o.masterPort < 1 || o.masterPort > 65535)) {
    throw new ConfigError(`launch: masterPort must be a TCP port 1..65535, got ${o.masterPort}`, 'masterPort');
  }
  if (o.transport !== 'tcp' && o.transport !== 'threads')
    throw new ConfigError(
      `launch: transport must be 'threads' or 'tcp', got ${JSON.stringify(o.transport)}`,
      'transport',
    );
  if (o.transport === 'threads' && (o.nnodes ?? 1) > 1)
    throw new ConfigError(
      'launch: transport threads runs on one node; use --transport tcp with --nnodes > 1',
      'transport',
    );
  if (!existsSync(o.script)) throw new ConfigError(`launch: script ${o.script} does not exist`, 'script');
}

/** Runs the job's ranks on this node; resolves to the exit code (0 when every rank exited 0). */
export async function launch(o: LaunchOptions): Promise<number> {
  check(o);
  const code = o.transport === 'threads' ? await launchThreads(o) : await launchProcesses(o);
  if (o.setExitCode ?? true) process.exitCode = code;
  return code;
}

/** Ctrl-C, SIGTERM and o.signal all call `stop`; returns the function that removes the handlers. */
function onStop(o: LaunchOptions, stop: (why: string, code: number) => void): () => void {
  const sigint = () => stop('SIGINT', 130);
  const sigterm = () => stop('SIGTERM', 143);
  const abort = () => stop('abort', 130);
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
  o.signal?.addEventListener('abort', abort);
  if (o.signal?.aborted) queueMicrotask(abort);
  return () => {
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
    o.signal?.removeEventListener('abort', abort);
  };
}

async function launchThreads(o: LaunchOptions): Promise<number> {
  const log = o.log ?? ((l: string) => console.error(l));
  const world = startThreads<null>({
    worldSize: o.nprocPerNode,
    transport: 'threads',
    module: new URL('../launch/script-thread.js', import.meta.url).href,
    fn: 'runScript',
    args: { script: pathToFileURL(resolve(o.script)).href, argv: o.args },
  });
  let stopped = 0;
  const off = onStop(o, (why, code) => {
    if (stopped) return;
    stopped = code;
    log(`zerots launch: ${why}: stopping ${o.nprocPerNode} rank thread(s)`);
    for (let r = 0; r < o.nprocPerNode; r++) void world.kill(r);
  });
  try {
    await world.results;
    return stopped;
  } catch (e) {
    if (stopped) return stopped;
    log(`zerots launch: ${(e as Error).name}: ${(e as Error).message}`);
    return 1;
  } finally {
    off();
  }
}

const REPORT_MS = 300;

async function launchProcesses(o: LaunchOptions): Promise<number> {
  const log = o.log ?? ((l: string) => console.error(l));
  const nnodes = o.nnodes ?? 1;
  const N = o.nprocPerNode;
  const worldSize = nnodes * N;
  const base = inheritedEnv();
  let token = base.ZEROTS_JOB_TOKEN;
  if (!token) {
    if (nnodes > 1)
      throw new ConfigError(
        'launch: a multi-node job needs the same secret on every node: export ZEROTS_JOB_TOKEN (e.g. $(openssl ' +
          'rand -hex 32)) before `zerots launch` on each node',
        'ZEROTS_JOB_TOKEN',
      );
    token = randomBytes(32).toString('hex');
  }
  const children: ChildProcess[] = [];
  let live = N;
  // Failures seen within REPORT_MS of the first are reported together: when a rank dies its peers fail too (with
  // PeerLostError, exit code 1) within milliseconds, and the order of their exit events is not the order of death.
  const failures: { rank: number; pid: number; code: number; how: string; signal: boolean }[] = [];
  let firstFailure: { code: number } | null = null;
  let reportTimer: NodeJS.Timeout | undefined;
  let stopping: { code: number } | null = null;
  let graceTimer: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let done!: (code: number) => void;
  const finished = new Promise<number>((r) => {
    done = r;
  });

  const terminateAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    killTimer ??= setTimeout(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }, 5000);
  };
  const off = onStop(o, (why, code) => {
    if (stopping) return;
    stopping = { code };
    log(`zerots launch: ${why}: stopping ${live} running rank(s)`);
    terminateAll();
  });

  const report = (): void => {
    if (firstFailure) return;
    clearTimeout(reportTimer);
    // the likely root cause first: a signal or a specific exit code rather than the generic 1 of an uncaught error
    const rootFirst = [...failures].sort((a, b) => Number(b.signal || b.code !== 1) - Number(a.signal || a.code !== 1));
    const root = rootFirst[0]!;
    firstFailure = { code: root.code };
    const others = rootFirst.slice(1).map((f) => `rank ${f.rank} ${f.how}`);
    log(
      `zerots launch: rank ${root.rank} (pid ${root.pid}) ${root.how}${others.length ? ` (then ${others.join(', ')})` : ''}; ` +
        `stopping the other ranks (they get ${Math.round((o.graceMs ?? 10_000) / 1000)} s to finish)`,
    );
    graceTimer = setTimeout(terminateAll, o.graceMs ?? 10_000);
  };
  const finish = (): void => {
    if (failures.length && !firstFailure) report();
    done(stopping ? stopping.code : firstFailure ? firstFailure.code : 0);
  };

  for (let l = 0; l < N; l++) {
    const rank = (o.nodeRank ?? 0) * N + l;
    const env = {
      ...base,
      ...o.env,
      RANK: String(rank),
      WORLD_SIZE: String(worldSize),
      LOCAL_RANK: String(l),
      LOCAL_WORLD_SIZE: String(N),
      MASTER_ADDR: o.masterAddr ?? '127.0.0.1',
      MASTER_PORT: String(o.masterPort ?? 29500),
      ZEROTS_JOB_TOKEN: token,
      ZEROTS_TRANSPORT: 'tcp',
    };
    const c = spawn(process.execPath, [...process.execArgv, o.script, ...o.args], { env, stdio: 'inherit' });
    children.push(c);
    c.on('error', (e) => log(`zerots launch: rank ${rank} could not start: ${e.message}`));
    c.on('exit', (code, signal) => {
      live--;
      const failed = signal !== null || code !== 0;
      if (failed && !stopping) {
        const sig = signal ? (constants.signals[signal] ?? 15) : 0;
        failures.push({
          rank,
          pid: c.pid ?? -1,
          code: signal ? 128 + sig : (code ?? 1),
          signal: signal !== null,
          how: signal ? `was killed by ${signal}` : `exited with code ${code}`,
        });
        reportTimer ??= setTimeout(report, REPORT_MS);
      }
      if (live === 0) finish();
    });
  }
  try {
    return await finished;
  } finally {
    clearTimeout(graceTimer);
    clearTimeout(killTimer);
    clearTimeout(reportTimer);
    off();
  }
}
