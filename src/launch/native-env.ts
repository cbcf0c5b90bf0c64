// The native libraries' settings from the environment (only src/launch and src/cli read process.env):
//   ZEROTS_BLAS          'auto' (default: OpenBLAS when it loads), 'off' (wasm GEMM), or the path of a CBLAS library
//   ZEROTS_BLAS_THREADS  OpenBLAS threads per process (default: the cores divided by the ranks on this machine)
//   ZEROTS_MPI           the path of libmpi (default libmpi.so.40, libmpi.so)
// See [Note: native backends] in docs/design-notes.md.
import { availableParallelism } from 'node:os';
import { ConfigError } from '../errors.js';
import { setBlasSetting } from '../kernels/blas/policy.js';
import type { EnvLike } from './env.js';

export interface NativeEnv {
  blas: string;
  blasThreads: number | undefined;
  mpiLibrary: string | undefined;
}

/** Pure: the native settings described by `env`. */
export function discoverNative(env: EnvLike): NativeEnv {
  const blas = env.ZEROTS_BLAS?.trim() || 'auto';
  const raw = env.ZEROTS_BLAS_THREADS?.trim();
  let blasThreads: number | undefined;
  if (raw) {
    blasThreads = Number(raw);
    if (!Number.isInteger(blasThreads) || blasThreads < 1)
      throw new ConfigError(`ZEROTS_BLAS_THREADS=${JSON.stringify(raw)} is not an integer >= 1`, 'ZEROTS_BLAS_THREADS');
  }
  return { blas, blasThreads, mpiLibrary: env.ZEROTS_MPI?.trim() || undefined };
}

/**
 * Applies ZEROTS_BLAS in this thread. `ranksOnMachine` (when this process decides for its ranks): OpenBLAS gets
 * cores / ranksOnMachine threads, so ranks x threads <= cores; ZEROTS_BLAS_THREADS overrides.
 */
export function configureNativeFromEnv(ranksOnMachine?: number): NativeEnv {
  const n = discoverNative(process.env);
  setBlasSetting(n.blas, ranksOnMachine === undefined ? n.blasThreads : blasThreadsFor(ranksOnMachine));
  return n;
}

/** OpenBLAS threads per rank when `ranksOnMachine` ranks share this machine (what configureNativeFromEnv sets). */
export function blasThreadsFor(ranksOnMachine: number): number {
  return discoverNative(process.env).blasThreads ?? Math.max(1, Math.floor(availableParallelism() / ranksOnMachine));
}
