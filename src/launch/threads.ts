// Spawning a threads world: one worker_thread per rank (entry: thread-rank.ts), the shared control block, the
// join rendezvous (every rank's device memory handed to every rank), and the fault handling:
// [Note: no hangs] a rank that throws, exits or is terminated is marked in the control block (waking every peer
// waiting in a barrier, which then throws PeerLostError naming it); ranks still waiting to join get a 'lost'
// reply; after a short grace period for the peers to report, every worker is terminated and the world rejects
// with the root cause.
import { availableParallelism } from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { createControlBlock, markRank, Status, statusWhy } from '../comm/threads/control.js';
import type { JoinMessage, JoinReply } from '../comm/threads/setup.js';
import type { CommMemory } from '../comm/wasm.js';
import { CollectiveTimeoutError, ConfigError, PeerLostError } from '../errors.js';
import type { SpawnWorldOptions } from './spawn.js';
import type { RankReport, ThreadRankData } from './thread-rank.js';
import { fromWire, isNamed, toWire, type WireError } from '../comm/wire-error.js';
import { configureNativeFromEnv } from './native-env.js'; // [native blas]

/** How long peers get to report their own errors after the first failure, before all are terminated. */
const GRACE_MS = 1000;

export interface ThreadWorld<T> {
  /** Resolves to the results in rank order; rejects with the root cause of the first failure. */
  readonly results: Promise<T[]>;
  /** Terminates one rank's thread (as a crash would): peers get PeerLostError. For fault tests. */
  kill(rank: number): Promise<void>;
}

export interface ThreadWorldOptions extends SpawnWorldOptions {
  module: string; // a file: URL
  /** Barrier spin iterations before futex-waiting; default 20000 when ranks <= cores, else 200. */
  spinIterations?: number;
}

export function spawnThreads<T>(o: ThreadWorldOptions): Promise<T[]> {
  return startThreads<T>(o).results;
}

export function startThreads<T>(o: ThreadWorldOptions): ThreadWorld<T> {
  const N = o.worldSize;
  configureNativeFromEnv(N); // [native blas] OpenBLAS's pool is per process: cores / N threads for N thread ranks
  const control = createControlBlock(N);
  const spin = o.spinIterations ?? (N <= availableParallelism() ? 20000 : 200);
  const workers: Worker[] = [];
  const ports: MessagePort[] = [];
  const memories: (CommMemory | undefined)[] = new Array(N);
  const results: unknown[] = new Array(N);
  const reported = new Array<boolean>(N).fill(false);
  const failures: { rank: number; error: WireError; status: number }[] = [];
  let joined = 0;
  let lost: { rank: number; status: number } | null = null;
  let settled = false;
  let graceTimer: NodeJS.Timeout | undefined;
  let worldTimer: NodeJS.Timeout | undefined;
  let resolveP!: (v: T[]) => void, rejectP!: (e: unknown) => void;
  const results$ = new Promise<T[]>((res, rej) => {
    resolveP = res;
    rejectP = rej;
  });

  const finish = (err: Error | null): void => {
    if (settled) return;
    settled = true;
    clearTimeout(graceTimer);
    clearTimeout(worldTimer);
    for (const p of ports) p.close();
    void Promise.all(workers.map((w) => w.terminate())).then(() => (err ? rejectP(err) : resolveP(results as T[])));
  };

  const rootCause = (): Error => {
    // the first failure that is not a consequence of another (a PeerLostError); else the first one
    const f = failures.find((x) => x.error.name !== 'PeerLostError') ?? failures[0]!;
    if (isNamed(f.error) && f.error.name !== 'PeerLostError')
      return fromWire(f.error, f.error.message.startsWith(`rank ${f.rank}`) ? '' : `rank ${f.rank}: `);
    if (f.error.name === 'PeerLostError') return fromWire(f.error);
    return new PeerLostError(
      `peer lost: rank ${f.rank} ${statusWhy(f.status)}: ${f.error.name}: ${f.error.message}; ` +
        'every other rank was stopped',
      f.rank,
    );
  };

  const allReported = (): boolean => reported.every(Boolean);

  const fail = (rank: number, status: number, error: WireError): void => {
    if (reported[rank]) return;
    reported[rank] = true;
    markRank(control, rank, status);
    failures.push({ rank, error, status });
    if (!lost) {
      lost = { rank, status };
      for (let r = 0; r < N; r++)
        if (memories[r] && joined < N)
          ports[r]!.postMessage({ kind: 'lost', lostRank: rank, status } satisfies JoinReply);
    }
    if (allReported()) finish(rootCause());
    else if (!graceTimer) graceTimer = setTimeout(() => finish(rootCause()), GRACE_MS);
  };

  for (let rank = 0; rank < N; rank++) {
    const { port1, port2 } = new MessageChannel();
    ports.push(port1);
    const data: ThreadRankData = {
      rank,
      worldSize: N,
      control,
      port: port2,
      spinIterations: spin,
      module: o.module,
      fn: o.fn,
      args: o.args,
    };
    let w: Worker;
    try {
      w = new Worker(new URL('./thread-rank.js', import.meta.url), { workerData: data, transferList: [port2] });
    } catch (e) {
      for (const started of workers) void started.terminate();
      throw new ConfigError(
        `spawnWorld: could not start rank ${rank}'s thread (are args structured-cloneable?): ${String(e)}`,
        'args',
      );
    }
    workers.push(w);
    port1.on('message', (m: JoinMessage) => {
      memories[m.rank] = m.memory;
      if (lost) {
        port1.postMessage({ kind: 'lost', lostRank: lost.rank, status: lost.status } satisfies JoinReply);
        return;
      }
      if (++joined === N)
        for (const p of ports)
          p.postMessage({ kind: 'memories', memories: memories as CommMemory[] } satisfies JoinReply);
    });
    w.on('message', (m: RankReport) => {
      if (m.kind === 'result') {
        if (reported[rank]) return;
        reported[rank] = true;
        results[rank] = m.value;
        markRank(control, rank, Status.finished);
        // ranks waiting to join a group this rank will never join must not wait for it
        if (!memories[rank] && joined > 0 && joined < N && !lost) {
          lost = { rank, status: Status.finished };
          for (let q = 0; q < N; q++)
            if (memories[q])
              ports[q]!.postMessage({ kind: 'lost', lostRank: rank, status: Status.finished } satisfies JoinReply);
        }
        if (allReported()) finish(failures.length ? rootCause() : null);
      } else {
        fail(rank, Status.threw, m.error);
      }
    });
    w.on('error', (e) => fail(rank, Status.threw, toWire(e)));
    w.on('exit', (code) =>
      fail(rank, Status.exited, { name: 'Error', message: `thread exited with code ${code}`, fields: {} }),
    );
  }

  if (o.timeoutMs !== undefined) {
    worldTimer = setTimeout(() => {
      const running = reported.map((r, i) => (r ? -1 : i)).filter((i) => i >= 0);
      for (const r of running) markRank(control, r, Status.abandoned);
      finish(
        new CollectiveTimeoutError(
          `spawnWorld: the world did not finish within ${o.timeoutMs} ms; ranks still ` +
            `running: ${running.join(', ')}; all were stopped`,
          'spawnWorld',
          running[0] ?? -1,
          -1,
        ),
      );
    }, o.timeoutMs);
  }

  return {
    results: results$,
    async kill(rank: number): Promise<void> {
      await workers[rank]?.terminate();
    },
  };
}
