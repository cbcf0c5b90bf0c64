// The RankContext of a rank started by mpirun (or srun with Open MPI's PMIx): the layout comes from Open MPI's
// variables (env.ts), and initProcessGroup builds an MPI process group (src/comm/mpi/). No store, no token: mpirun
// did the rendezvous. See [Note: native backends] in docs/design-notes.md.
import { Group } from '../comm/group.js';
import { loadLibMpi } from '../comm/mpi/libmpi.js';
import { MpiTransport } from '../comm/mpi/mpi-transport.js';
import type { ThreadsGroupOptions } from '../comm/threads/setup.js';
import type { ProcessGroup } from '../comm/types.js';
import type { CommMemory } from '../comm/wasm.js';
import { ConfigError } from '../errors.js';
import type { RankEnv } from './env.js';
import { discoverNative } from './native-env.js';
import { type ProcessRankContext, type TcpContextOptions, tcpRankContext } from './tcp-context.js';

/** Why MPI cannot be used here, or null when libmpi loads (and MPI is then initialised in this process). */
export function mpiUnavailable(library?: string): string | null {
  const m = loadLibMpi(library);
  return m.ok ? null : m.reason;
}

export function mpiRankContext(env: RankEnv, library?: string): ProcessRankContext {
  const m = loadLibMpi(library);
  if (!m.ok)
    throw new ConfigError(
      `ZEROTS_TRANSPORT=mpi: ${m.reason}; install Open MPI (Debian/Ubuntu: openmpi-bin) and the optional npm ` +
        'package koffi, set ZEROTS_MPI to libmpi, or use ZEROTS_TRANSPORT=tcp',
      'ZEROTS_TRANSPORT',
    );
  const mpi = m.value;
  const groups: Group[] = [];
  const t0 = new MpiTransport(mpi); // the world's own layout, cross-checked against the environment's
  if (t0.rank !== env.rank || t0.worldSize !== env.worldSize)
    throw new ConfigError(
      `MPI says rank ${t0.rank} of ${t0.worldSize} but the environment (${env.source}) says rank ${env.rank} of ` +
        `${env.worldSize}; start every rank with the same mpirun`,
      'OMPI_COMM_WORLD_RANK',
    );
  let first: MpiTransport | null = t0;
  return {
    rank: env.rank,
    worldSize: env.worldSize,
    localRank: env.localRank,
    localWorldSize: env.localWorldSize,
    transport: 'mpi',
    masterAddr: env.masterAddr,
    masterPort: env.masterPort,
    async initProcessGroup(_memory: CommMemory, opts: ThreadsGroupOptions = {}): Promise<ProcessGroup> {
      const t = first ?? new MpiTransport(mpi);
      first = null;
      const g = new Group(t, { timeoutMs: opts.timeoutMs ?? env.timeoutMs });
      groups.push(g);
      return g;
    },
    close() {
      for (const g of groups) g.destroy();
      first?.close();
      first = null;
    },
  };
}

/**
 * The context of a rank that runs as its own process: MPI when the transport is 'mpi' (the default under mpirun)
 * and libmpi loads; when MPI was only the default and does not load, TCP with one line saying why.
 */
export function processRankContext(env: RankEnv, o: TcpContextOptions = {}): ProcessRankContext {
  if (env.transport !== 'mpi') return tcpRankContext(env, o);
  const library = discoverNative(process.env).mpiLibrary;
  const why = env.transportExplicit ? null : mpiUnavailable(library);
  if (why === null) return mpiRankContext(env, library);
  if (env.rank === 0) console.error(`zerots: transport tcp (MPI not used: ${why})`);
  return tcpRankContext({ ...env, transport: 'tcp' }, o);
}
