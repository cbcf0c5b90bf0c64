// How a script started by `zerots launch` (or mpirun, Slurm, torchrun-style env) finds its place in the job:
//
//   import { initFromEnv } from 'zerots/dist/src/launch/index.js';
//   const ctx = initFromEnv();                      // { rank, worldSize, localRank, localWorldSize, transport, argv }
//   const pg = await ctx.initProcessGroup(device.memory, { timeoutMs: 60_000 });
//   ... pg.allReduce(...) ...
//   pg.destroy();
//
// Under `--transport tcp` (and any external launcher) each rank is a process: the rank layout comes from the
// environment (env.ts lists the variables) and initProcessGroup meets the others at the rendezvous store. Under
// `--transport threads` each rank is a worker thread of the launcher's process, and the launcher hands this thread
// its context directly (script-thread.ts). Either way the script's own arguments are ctx.argv.
import type { RankContext } from './spawn.js';
import { readProcessEnv } from './env.js';
import { processRankContext } from './mpi-context.js'; // [native mpi]
import { configureNativeFromEnv } from './native-env.js'; // [native blas]

export interface LaunchedRank extends RankContext {
  /** the script's arguments (what followed the script on the launcher's command line). */
  readonly argv: readonly string[];
  /** Closes the process groups this context opened (also done when the process exits). */
  close(): void;
}

/** This process's (or, under the threads launcher, this thread's) context: made once, then the same object. */
let current: LaunchedRank | null = null;

/** Used by script-thread.ts: the threads launcher's context for this thread. */
export function setLaunchedRank(ctx: RankContext, argv: readonly string[]): void {
  current = { ...ctx, argv, initProcessGroup: ctx.initProcessGroup.bind(ctx), close: () => {} };
}

/** The rank's context from the launch environment. Throws ConfigError naming the variable that is wrong. */
export function initFromEnv(): LaunchedRank {
  if (current) return current;
  const env = readProcessEnv();
  configureNativeFromEnv(env.localWorldSize); // [native blas] ranks x BLAS threads <= cores
  const ctx = processRankContext(env); // [native mpi] MPI under mpirun when libmpi loads, else TCP
  // A script that simply ends still hangs up cleanly, so no peer loses bytes still in flight (TcpTransport.close).
  // A failing one leaves at once: its peers then see the hang-up immediately, and a launcher sees it die first.
  process.once('exit', (code) => {
    if (code === 0) ctx.close();
  });
  current = {
    ...ctx,
    initProcessGroup: ctx.initProcessGroup.bind(ctx),
    close: ctx.close.bind(ctx),
    argv: process.argv.slice(2),
  };
  return current;
}

/** This process's context when `zerots launch` (ZEROTS_LAUNCHER_PID set) or an MPI launcher (mpirun, srun; env.ts)
 * started it, else null: `zerots train` runs as one rank of the launcher's job then, instead of starting ranks of
 * its own. */
export function launchedRank(): LaunchedRank | null {
  if (current) return current;
  const env = readProcessEnv();
  return env.launched || env.mpiLaunched ? initFromEnv() : null;
}

/** [native mpi] True when an MPI launcher started this process (env.ts: mpirun, PMI, srun with PMIx). */
export function startedByMpiLauncher(): boolean {
  return readProcessEnv().mpiLaunched;
}

export { discoverRank, readProcessEnv } from './env.js';
export type { RankEnv } from './env.js';
export type { RankContext } from './spawn.js';
export { spawnWorld } from './spawn.js';
