// spawnWorld: run one function on every rank of a world, as threads (default) or processes ('tcp'), and collect
// the results in rank order. The contract is in the interface comments below.
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import type { ProcessGroup } from '../comm/types.js';
import type { ThreadsGroupOptions } from '../comm/threads/setup.js';
import type { CommMemory } from '../comm/wasm.js';
import { ConfigError } from '../errors.js';
import { spawnThreads } from './threads.js';
import { isRankImport } from './rank-import.js';

export interface RankContext {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  transport: 'threads' | 'tcp' | 'mpi';
  /** How many times the launcher restarted this job before this run (`zerots launch --max-restarts`; 0 or absent: none). */
  restartCount?: number;
  /** Joins the process group with this rank's device memory (buffers passed to collectives live in it). */
  initProcessGroup(memory: CommMemory, opts?: ThreadsGroupOptions): Promise<ProcessGroup>;
}

export interface SpawnWorldOptions {
  worldSize: number;
  transport?: 'threads' | 'tcp';
  /** The module whose export runs on every rank: a file: URL, or a file path (relative to the cwd). */
  module: string | URL;
  /** The export's name; it is called as fn(ctx: RankContext, args) and may return a promise. */
  fn: string;
  /** Structured-clone value handed to every rank. */
  args?: unknown;
  /** Wall-clock limit of the whole world in ms (default: none); past it every rank is stopped. */
  timeoutMs?: number;
}

export function moduleHref(m: string | URL): string {
  if (m instanceof URL) return m.href;
  if (/^(file|data|node):/.test(m)) return m;
  return pathToFileURL(resolve(m)).href;
}

export function checkSpawnOptions(o: SpawnWorldOptions): void {
  if (!Number.isInteger(o.worldSize) || o.worldSize < 1) {
    throw new ConfigError(`spawnWorld: worldSize must be an integer >= 1, got ${o.worldSize}`, 'worldSize');
  }
  const t = o.transport ?? 'threads';
  if (t !== 'threads' && t !== 'tcp')
    throw new ConfigError(`spawnWorld: transport must be 'threads' or 'tcp', got ${JSON.stringify(t)}`, 'transport');
  if (typeof o.fn !== 'string' || o.fn === '')
    throw new ConfigError('spawnWorld: fn must name an exported function', 'fn');
  if (o.timeoutMs !== undefined && !(o.timeoutMs > 0)) {
    throw new ConfigError(`spawnWorld: timeoutMs must be a positive number of ms, got ${o.timeoutMs}`, 'timeoutMs');
  }
}

/**
 * Runs `module`'s export `fn(ctx, args)` on every rank; resolves to the results in rank order (structured-clone
 * values); rejects when any rank fails (PeerLostError naming the rank for a throw or an exit; the rank's own
 * named error, e.g. CollectiveTimeoutError, when it had one), after stopping every rank.
 */
export async function spawnWorld<T>(opts: SpawnWorldOptions): Promise<T[]> {
  checkSpawnOptions(opts);
  if (isRankImport(moduleHref(opts.module), opts.fn)) return []; // [Note: a rank module that also spawns]
  if ((opts.transport ?? 'threads') === 'threads') return spawnThreads<T>({ ...opts, module: moduleHref(opts.module) });
  return spawnTcp<T>(opts);
}

type ProcessSpawner = (opts: SpawnWorldOptions) => Promise<unknown[]>;

async function spawnTcp<T>(opts: SpawnWorldOptions): Promise<T[]> {
  // processes.ts belongs to the TCP transport; resolved at run time so that this file builds without it
  const spec = './processes.js';
  let mod: Record<string, unknown>;
  try {
    mod = (await import(spec)) as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(
      `spawnWorld: transport 'tcp' is not available in this build (src/launch/processes.ts: ${String(e)}); use transport 'threads'`,
      'transport',
    );
  }
  const f = (mod.spawnProcesses ?? mod.spawnWorldProcesses) as ProcessSpawner | undefined;
  if (typeof f !== 'function') {
    throw new ConfigError(
      "spawnWorld: src/launch/processes.ts exports no spawnProcesses(opts); transport 'tcp' is unavailable",
      'transport',
    );
  }
  return (await f({ ...opts, module: moduleHref(opts.module) })) as T[];
}
