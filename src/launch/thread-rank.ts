// The entry of one rank's worker thread (started by src/launch/threads.ts): builds the RankContext, imports the
// user's module, runs its export and posts the result (or the error) back.
import { parentPort, workerData } from 'node:worker_threads';
import { checkJoin, joinThreadsGroup, type ThreadsRendezvous } from '../comm/threads/setup.js';
import { ConfigError, StateError } from '../errors.js';
import { markRankImport } from './rank-import.js';
import type { RankContext } from './spawn.js';
import { toWire } from '../comm/wire-error.js';
import { configureNativeFromEnv } from './native-env.js'; // [native blas]

export interface ThreadRankData extends ThreadsRendezvous {
  /** file: URL of the module to import. */
  module: string;
  fn: string;
  args: unknown;
}

export type RankReport = { kind: 'result'; value: unknown } | { kind: 'error'; error: ReturnType<typeof toWire> };

async function main(): Promise<void> {
  const d = workerData as ThreadRankData;
  let joined = false;
  const ctx: RankContext = {
    rank: d.rank,
    worldSize: d.worldSize,
    localRank: d.rank,
    localWorldSize: d.worldSize,
    transport: 'threads',
    initProcessGroup(memory, opts) {
      if (joined)
        return Promise.reject(
          new StateError(`rank ${d.rank}: initProcessGroup was already called; one process group per rank`),
        );
      try {
        checkJoin(d.rank, memory, opts);
      } catch (e) {
        return Promise.reject(e);
      }
      joined = true;
      return joinThreadsGroup(d, memory, opts);
    },
  };
  try {
    configureNativeFromEnv(); // [native blas] ZEROTS_BLAS in this thread; the launcher set the thread count
    markRankImport(d.module, d.fn); // [Note: a rank module that also spawns] in rank-import.ts
    const mod = (await import(d.module)) as Record<string, unknown>;
    const f = mod[d.fn];
    if (typeof f !== 'function') {
      throw new ConfigError(
        `spawnWorld: module ${d.module} has no exported function '${d.fn}' (exports: ${Object.keys(mod).join(', ') || 'none'})`,
        'fn',
      );
    }
    const value: unknown = await (f as (c: RankContext, a: unknown) => unknown)(ctx, d.args);
    await flushStdio();
    parentPort!.postMessage({ kind: 'result', value } satisfies RankReport);
  } catch (e) {
    await flushStdio();
    parentPort!.postMessage({ kind: 'error', error: toWire(e) } satisfies RankReport);
  }
}

/**
 * [Note: thread output] A worker thread's stdout/stderr are streams that hand each chunk to the launcher's thread
 * and wait for it to ask for more; chunks still queued when the launcher terminates the worker are lost. An empty
 * write completes only after every earlier one has been handed over, so the report is sent after the last line;
 * what was handed over is drained by Node when the launcher terminates the worker.
 */
function flushStdio(): Promise<void> {
  const one = (s: NodeJS.WriteStream) => new Promise<void>((r) => s.write('', () => r()));
  return Promise.all([one(process.stdout), one(process.stderr)]).then(() => {});
}

void main();
