// spawnWorld for transport 'tcp': one child process per rank (entry: process-rank.ts), meeting at a rendezvous
// store hosted by rank 0 on a free loopback port, with a fresh job token. Fault handling mirrors threads.ts: after
// the first failure the others get GRACE_MS to report (they see PeerLostError through their sockets), then every
// remaining process is killed and the world rejects with the root cause.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { CollectiveTimeoutError, PeerLostError } from '../errors.js';
import { LAUNCH_PROTOCOL, inheritedEnv } from './env.js';
import type { ProcessReport, ProcessTask } from './process-rank.js';
import type { SpawnWorldOptions } from './spawn.js';
import { checkSpawnOptions, moduleHref } from './spawn.js';
import { fromWire, isNamed, toWire } from '../comm/wire-error.js';
import type { WireError } from '../comm/wire-error.js';

/** How long the other ranks get to report after the first failure before all are killed. */
const GRACE_MS = 12_000;

export type RankOutcome<T> = { rank: number; ok: true; value: T } | { rank: number; ok: false; error: Error };

export interface ProcessWorld<T> {
  /** The results in rank order; rejects with the root cause of the first failure. */
  readonly results: Promise<T[]>;
  /** Every rank's own outcome (for fault tests: what each survivor threw); never rejects. */
  readonly outcomes: Promise<RankOutcome<T>[]>;
  /** Kills rank `rank`'s process (as a crash would). */
  kill(rank: number, signal?: NodeJS.Signals): void;
}

export interface ProcessWorldOptions extends SpawnWorldOptions {
  /** extra environment for every rank (e.g. ZEROTS_COMM_TIMEOUT_MS). */
  env?: Record<string, string>;
  /** forward the ranks' stderr/stdout (default true). */
  stdio?: 'inherit' | 'ignore';
}

/** A free TCP port on the loopback interface (the OS picks; released at once for rank 0 to take). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host, port: 0 }, () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export function spawnProcessWorld<T>(opts: ProcessWorldOptions): Promise<T[]> {
  return startProcessWorld<T>(opts).results;
}
/** The name spawn.ts looks up. */
export const spawnProcesses = spawnProcessWorld;

export function startProcessWorld<T>(o: ProcessWorldOptions): ProcessWorld<T> {
  checkSpawnOptions(o);
  const N = o.worldSize;
  const children: (ChildProcess | undefined)[] = new Array(N);
  const outcomes: (RankOutcome<T> | undefined)[] = new Array(N);
  const failures: { rank: number; error: WireError }[] = [];
  let graceTimer: NodeJS.Timeout | undefined;
  let worldTimer: NodeJS.Timeout | undefined;
  let settled = false;
  let resolveO!: (v: RankOutcome<T>[]) => void;
  const outcomes$ = new Promise<RankOutcome<T>[]>((r) => {
    resolveO = r;
  });

  const rootCause = (): Error => {
    const f = failures.find((x) => x.error.name !== 'PeerLostError') ?? failures[0]!;
    if (f.error.name === 'PeerLostError') return fromWire(f.error);
    if (isNamed(f.error))
      return fromWire(f.error, f.error.message.startsWith(`rank ${f.rank}`) ? '' : `rank ${f.rank}: `);
    return new PeerLostError(
      `peer lost: rank ${f.rank} failed: ${f.error.name}: ${f.error.message}; every other rank was stopped`,
      f.rank,
    );
  };

  const finish = (): void => {
    if (settled) return;
    settled = true;
    clearTimeout(graceTimer);
    clearTimeout(worldTimer);
    for (let r = 0; r < N; r++) {
      const c = children[r];
      if (!outcomes[r])
        outcomes[r] = {
          rank: r,
          ok: false,
          error: new PeerLostError(`rank ${r} was stopped after another rank failed`, r),
        };
      if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    resolveO(outcomes as RankOutcome<T>[]);
  };

  const settle = (rank: number, out: RankOutcome<T>): void => {
    if (outcomes[rank] || settled) return;
    outcomes[rank] = out;
    if (!out.ok) {
      failures.push({ rank, error: toWire(out.error) });
      if (!graceTimer) graceTimer = setTimeout(finish, GRACE_MS);
    }
    if (outcomes.filter(Boolean).length === N) finish();
  };

  const start = async (): Promise<void> => {
    const port = await freePort();
    const token = randomBytes(32).toString('hex');
    const base = inheritedEnv();
    const task: ProcessTask = { kind: 'task', module: moduleHref(o.module), fn: o.fn, args: o.args };
    const entry = fileURLToPath(new URL('./process-rank.js', import.meta.url));
    for (let rank = 0; rank < N; rank++) {
      const env = {
        ...base,
        ...o.env,
        RANK: String(rank),
        WORLD_SIZE: String(N),
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: String(N),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        ZEROTS_JOB_TOKEN: token,
        ZEROTS_TRANSPORT: 'tcp',
        ZEROTS_LAUNCHER_PID: String(process.pid),
        ZEROTS_LAUNCH_PROTOCOL: LAUNCH_PROTOCOL,
      };
      const stdio = o.stdio ?? 'inherit';
      const c = fork(entry, [], { env, serialization: 'advanced', stdio: [stdio, stdio, stdio, 'ipc'] });
      children[rank] = c;
      c.on('message', (m: ProcessReport) => {
        if (m.kind === 'result') settle(rank, { rank, ok: true, value: m.value as T });
        else settle(rank, { rank, ok: false, error: fromWire(m.error) });
      });
      c.on('error', (e) => settle(rank, { rank, ok: false, error: e }));
      c.on('exit', (code, signal) => {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        // 'exit' can overtake the last IPC message; give the report a moment to arrive first.
        setTimeout(
          () =>
            settle(rank, {
              rank,
              ok: false,
              error: new PeerLostError(`peer lost: rank ${rank} ${how} before reporting a result`, rank),
            }),
          200,
        );
      });
      c.send(task);
    }
  };

  if (o.timeoutMs !== undefined) {
    worldTimer = setTimeout(() => {
      const running = outcomes.map((x, i) => (x ? -1 : i)).filter((i) => i >= 0);
      const e = new CollectiveTimeoutError(
        `spawnWorld: the world did not finish within ${o.timeoutMs} ms; ranks still running: ` +
          `${running.join(', ')}; all were stopped`,
        'spawnWorld',
        running[0] ?? -1,
        -1,
      );
      for (const r of running) settle(r, { rank: r, ok: false, error: e });
      finish();
    }, o.timeoutMs);
  }
  start().catch((e: Error) => {
    for (let r = 0; r < N; r++) settle(r, { rank: r, ok: false, error: e });
    finish();
  });

  const results = outcomes$.then((outs) => {
    if (outs.every((x) => x.ok)) return outs.map((x) => (x as { value: T }).value);
    throw rootCause();
  });
  results.catch(() => {}); // callers that only read `outcomes` must not see an unhandled rejection
  return {
    results,
    outcomes: outcomes$,
    kill(rank, signal = 'SIGKILL') {
      children[rank]?.kill(signal);
    },
  };
}
