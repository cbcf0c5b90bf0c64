// `zerots launch`: starts this node's ranks of a job and watches them.
//   --transport tcp (default): one process per rank (`node script args`), each given RANK, WORLD_SIZE, LOCAL_RANK,
//     LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ZEROTS_TRANSPORT and the job's secret ZEROTS_JOB_TOKEN (made here
//     for a one-node job; a multi-node job needs the same ZEROTS_JOB_TOKEN exported on every node).
//   --transport threads: one worker thread per rank in this process (one node only).
// The script finds its rank with initFromEnv() (src/launch/index.ts). If a rank dies (non-zero exit, signal), the
// launcher names it with its error, gives the others a moment to notice (they fail with PeerLostError), stops the
// rest and exits non-zero. Ctrl-C / SIGTERM stops every rank; a launcher killed outright (SIGKILL) is noticed by
// the ranks themselves ([Note: ranks watch the launcher], src/launch/watch-launcher.ts). Every line a rank prints
// reaches the launcher's stdout/stderr, whole and in order per rank (src/launch/rank-output.ts).
// --max-restarts N (tcp, one node) runs the job again after a failure, with ZEROTS_RESTART_COUNT set and, with
// --min-nproc M (or --nnodes 1:MAX), fewer ranks: the ones that died do not come back (src/launch/elastic.ts,
// [Note: elastic restart]).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { availableParallelism, constants } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Writable } from 'node:stream';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../errors.js';
import { LAUNCH_PROTOCOL, inheritedEnv } from '../launch/env.js';
import { RankOutput } from '../launch/rank-output.js';
import { startThreads } from '../launch/threads.js';
import { type AttemptOutcome, runElastic } from '../launch/elastic.js';

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
  /** how long the ranks wait for the rendezvous (ZEROTS_RENDEZVOUS_TIMEOUT_MS; default: the ranks' own, 60 s). */
  rdzvTimeoutMs?: number;
  /** where the ranks' lines go (tcp; default this process's stdout and stderr). */
  output?: { stdout: Writable; stderr: Writable };
  /** restarts of the whole job after a rank dies (tcp, one node; default 0: a failure ends the job). */
  maxRestarts?: number;
  /** the fewest ranks a restart may continue with (default nprocPerNode: restarts keep the size). */
  minNproc?: number;
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
  if (o.rdzvTimeoutMs !== undefined && !(Number.isInteger(o.rdzvTimeoutMs) && o.rdzvTimeoutMs > 0))
    throw new ConfigError(`launch: rdzvTimeoutMs must be a positive integer, got ${o.rdzvTimeoutMs}`, 'rdzvTimeoutMs');
  if ((o.maxRestarts ?? 0) > 0 && (o.transport === 'threads' || (o.nnodes ?? 1) > 1))
    throw new ConfigError(
      '--max-restarts restarts the processes of a one-node job: use --transport tcp and one node ' +
        '(the launchers of several nodes do not agree on restarts yet)',
      'maxRestarts',
    );
  if (!existsSync(o.script)) throw new ConfigError(`launch: script ${o.script} does not exist`, 'script');
}

/** Runs the job's ranks on this node; resolves to the exit code (0 when every rank exited 0). */
export async function launch(o: LaunchOptions): Promise<number> {
  check(o);
  const log = o.log ?? ((l: string) => console.error(l));
  const policy = { maxRestarts: o.maxRestarts ?? 0, minNproc: o.minNproc ?? o.nprocPerNode };
  const code =
    o.transport === 'threads'
      ? await launchThreads(o)
      : await runElastic(o.nprocPerNode, policy, (n, k) => launchProcesses(o, n, k), log);
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

/** One attempt of the job with N ranks on this node (restartCount: the attempts before it, [Note: elastic restart]). */
async function launchProcesses(o: LaunchOptions, N: number, restartCount: number): Promise<AttemptOutcome> {
  const log = o.log ?? ((l: string) => console.error(l));
  const nnodes = o.nnodes ?? 1;
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
  type Failure = { rank: number; pid: number; code: number; how: string; signal: boolean; out: RankOutput };
  const failures: (Failure & { byLauncher: boolean })[] = [];
  let terminating = false;
  const outputs: RankOutput[] = [];
  let firstFailure: { code: number } | null = null;
  let reportTimer: NodeJS.Timeout | undefined;
  let stopping: { code: number } | null = null;
  let graceTimer: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let done!: (code: AttemptOutcome) => void;
  const finished = new Promise<AttemptOutcome>((r) => {
    done = r;
  });

  const terminateAll = () => {
    terminating = true;
    for (const c of children)
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        c.kill('SIGCONT'); // a stopped (SIGSTOP) rank only receives the SIGTERM once it runs again
      }
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
    // then a rank with its own error rather than one that only lost a peer (PeerLostError names the root anyway)
    const weight = (f: (typeof failures)[number]) =>
      2 * Number(f.signal || f.code !== 1) + Number(!f.out.error?.startsWith('PeerLostError'));
    const rootFirst = [...failures].sort((a, b) => weight(b) - weight(a));
    const root = rootFirst[0]!;
    firstFailure = { code: root.code };
    const others = rootFirst.slice(1).map((f) => `rank ${f.rank} ${f.how}`);
    const why = root.out.error ? `: ${root.out.error}` : '';
    log(
      `zerots launch: rank ${root.rank} (pid ${root.pid}) ${root.how}${why}` +
        `${others.length ? ` (then ${others.join(', ')})` : ''}; ` +
        `stopping the other ranks (they get ${Math.round((o.graceMs ?? 10_000) / 1000)} s to finish)`,
    );
    graceTimer = setTimeout(terminateAll, o.graceMs ?? 10_000);
  };
  const finish = (): void => {
    // every rank has exited: forward what is still in the pipes (bounded: a grandchild may hold one open)
    let t: NodeJS.Timeout | undefined;
    const drained = new Promise<void>((r) => {
      t = setTimeout(r, 2000);
    });
    void Promise.race([Promise.all(outputs.map((x) => x.closed)), drained]).then(() => {
      clearTimeout(t);
      if (failures.length && !firstFailure) report();
      // a rank died of its own: killed by a signal not ours, or failed with its own error (not only a lost peer)
      const died = failures
        .filter((f) => !f.byLauncher && (f.signal || !f.out.error?.startsWith('PeerLostError')))
        .map((f) => f.rank);
      const code = stopping ? stopping.code : firstFailure ? firstFailure.code : 0;
      done({ code, stopped: stopping !== null, died });
    });
  };
  const to = o.output ?? { stdout: process.stdout, stderr: process.stderr };
  const preload = new URL('../launch/rank-preload.js', import.meta.url).href;

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
      ZEROTS_LAUNCHER_PID: String(process.pid),
      ZEROTS_LAUNCH_PROTOCOL: LAUNCH_PROTOCOL,
      ZEROTS_RESTART_COUNT: String(restartCount),
      ...(o.rdzvTimeoutMs !== undefined ? { ZEROTS_RENDEZVOUS_TIMEOUT_MS: String(o.rdzvTimeoutMs) } : {}),
    };
    const c = spawn(process.execPath, [...process.execArgv, '--import', preload, o.script, ...o.args], {
      env,
      stdio: ['inherit', 'pipe', 'pipe'],
    });
    children.push(c);
    const out = new RankOutput(c, to);
    outputs.push(out);
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
          out,
          byLauncher: terminating,
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

/** Parsed flags of `zerots launch` (torchrun's underscore spellings land in their own keys). */
interface LaunchFlags {
  nprocPerNode?: string;
  nproc_per_node?: string;
  transport: 'threads' | 'tcp';
  nnodes?: string;
  nodeRank?: string;
  node_rank?: string;
  masterAddr?: string;
  master_addr?: string;
  masterPort?: string;
  master_port?: string;
  standalone?: boolean;
  rdzvTimeout?: string;
  rdzv_timeout?: string;
  maxRestarts?: string;
  max_restarts?: string;
  minNproc?: string;
}

function flagInt(flag: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(`launch: ${flag} must be an integer in [${min}, ${max}], got '${raw}'`, flag);
  return n;
}

/** The LaunchOptions that `zerots launch` flags describe (torchrun's spellings included). */
export async function optionsFromFlags(f: LaunchFlags, script: string, args: string[]): Promise<LaunchOptions> {
  const nproc = f.nprocPerNode ?? f.nproc_per_node;
  if (nproc === undefined)
    throw new ConfigError('launch: --nproc-per-node <n|auto> is required (ranks on this node)', '--nproc-per-node');
  const nprocPerNode = nproc === 'auto' ? availableParallelism() : flagInt('--nproc-per-node', nproc, 1, 256)!;
  let nnodesRaw = f.nnodes;
  let minNproc = flagInt('--min-nproc', f.minNproc, 1, nprocPerNode);
  if (nnodesRaw?.includes(':')) {
    // [Note: elastic restart]: on one node, MIN:MAX lets the job shrink to any size down to one rank
    const [lo, hi] = nnodesRaw.split(':').map((x) => flagInt('--nnodes MIN:MAX', x, 1, 4096)!) as [number, number];
    if (!(lo <= 1 && hi >= 1 && nnodesRaw.split(':').length === 2))
      throw new ConfigError(
        `launch: --nnodes ${nnodesRaw}: an elastic range runs on this one node for now; give MIN:MAX with MIN = 1 ` +
          '(e.g. 1:2), or one node count',
        '--nnodes',
      );
    nnodesRaw = '1';
    minNproc ??= 1;
  }
  const maxRestarts = flagInt('--max-restarts', f.maxRestarts ?? f.max_restarts, 0, 1000) ?? 0;
  if (minNproc !== undefined && maxRestarts === 0)
    throw new ConfigError(
      'launch: --min-nproc (or --nnodes MIN:MAX) sets the size a restart may shrink to; it needs --max-restarts N > 0',
      '--min-nproc',
    );
  const rdzv = f.rdzvTimeout ?? f.rdzv_timeout;
  const rdzvSeconds = rdzv === undefined ? undefined : Number(rdzv);
  if (rdzvSeconds !== undefined && !(rdzvSeconds > 0 && Number.isFinite(rdzvSeconds)))
    throw new ConfigError(
      `launch: --rdzv-timeout must be a positive number of seconds, got '${rdzv}'`,
      '--rdzv-timeout',
    );
  const o: LaunchOptions = {
    nprocPerNode,
    transport: f.transport,
    nnodes: flagInt('--nnodes', nnodesRaw, 1, 4096) ?? 1,
    nodeRank: flagInt('--node-rank', f.nodeRank ?? f.node_rank, 0, 4095) ?? 0,
    masterAddr: f.masterAddr ?? f.master_addr ?? '127.0.0.1',
    masterPort: flagInt('--master-port', f.masterPort ?? f.master_port, 1, 65535) ?? 29500,
    rdzvTimeoutMs: rdzvSeconds === undefined ? undefined : Math.ceil(rdzvSeconds * 1000),
    maxRestarts,
    minNproc,
    script,
    args,
  };
  if (f.standalone) {
    // torchrun --standalone: one node, a rendezvous on a free local port (so several jobs never collide)
    if ((o.nnodes ?? 1) > 1) throw new ConfigError('launch: --standalone runs one node; drop --nnodes', '--standalone');
    const { freePort } = await import('../launch/processes.js');
    o.masterAddr = '127.0.0.1';
    o.masterPort = await freePort();
  }
  return o;
}

const EXAMPLES = `
Examples:
  zerots launch --nproc-per-node 4 train.js --lr 3e-4       4 ranks (processes) on this machine
  zerots launch --standalone --nproc-per-node auto train.js one rank per core, on a free rendezvous port
  zerots launch --nproc-per-node 2 --transport threads x.js 2 ranks as threads of one process

  two nodes (same ZEROTS_JOB_TOKEN exported on both, e.g. $(openssl rand -hex 32)):
  node A: zerots launch --nnodes 2 --node-rank 0 --nproc-per-node 8 --master-addr 10.0.0.1 train.js
  node B: zerots launch --nnodes 2 --node-rank 1 --nproc-per-node 8 --master-addr 10.0.0.1 train.js

  elastic (a dead rank restarts the job at fewer ranks; \`zerots train\` resumes from its latest checkpoint):
  zerots launch --standalone --nproc-per-node 3 --max-restarts 3 --min-nproc 2 \\
    node_modules/zerots/dist/src/cli/main.js train --config ds.json --save-dir ck --save-every 50

torchrun's spellings work too (--nproc_per_node, --node_rank, --master_addr, --master_port, --rdzv_timeout,
--max_restarts).
Environment for the ranks: ZEROTS_BIND_ADDR (listen on / connect from this address), ZEROTS_NODE_ID (this node's
identity), ZEROTS_COMM_TIMEOUT_MS (collective timeout).`;

/** Adds `zerots launch` to the CLI (src/cli/main.ts). */
export function addLaunchCommand(program: Command): void {
  const cmd = program
    .command('launch')
    .description('start N ranks of a script (threads or processes), with rank discovery from the environment')
    .option('--nproc-per-node <n>', "ranks on this node, or 'auto' (one per core)")
    .option(
      '--transport <t>',
      'threads | tcp',
      (v: string) => {
        if (v !== 'threads' && v !== 'tcp')
          throw new InvalidArgumentError(`transport must be 'threads' or 'tcp', got '${v}'`);
        return v;
      },
      'tcp',
    )
    .option('--nnodes <n>', 'number of nodes (default 1)')
    .option('--node-rank <k>', "this node's index (default 0)")
    .option('--master-addr <addr>', 'rendezvous host (default 127.0.0.1)')
    .option('--master-port <port>', 'rendezvous port (default 29500)')
    .option('--standalone', 'one node, rendezvous on a free local port')
    .option('--rdzv-timeout <seconds>', 'how long ranks wait for the rendezvous (default 60)')
    .option('--max-restarts <n>', 'restart the job (from its latest checkpoint) up to n times when a rank dies')
    .option('--min-nproc <m>', 'with --max-restarts: restart with fewer ranks (the ones that died), down to m');
  for (const [flag, arg] of [
    ['nproc_per_node', '<n>'],
    ['node_rank', '<k>'],
    ['master_addr', '<addr>'],
    ['master_port', '<port>'],
    ['rdzv_timeout', '<seconds>'],
    ['max_restarts', '<n>'],
  ] as const)
    cmd.addOption(new Option(`--${flag} ${arg}`).hideHelp());
  cmd
    .argument('<script>', 'the script every rank runs')
    .argument('[args...]', 'arguments for the script')
    .passThroughOptions()
    .addHelpText('after', EXAMPLES)
    .action(async (script: string, args: string[], f: LaunchFlags) => {
      await launch(await optionsFromFlags(f, script, args));
    });
}
