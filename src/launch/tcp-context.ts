// The RankContext of a rank that runs as its own process (zerots launch, spawnWorld transport 'tcp', mpirun,
// Slurm, ...): initProcessGroup meets the other ranks at the rendezvous store and builds a TCP process group.
import { Group } from '../comm/group.js';
import type { ThreadsGroupOptions } from '../comm/threads/setup.js';
import { TcpTransport } from '../comm/tcp/tcp-transport.js';
import type { ProcessGroup } from '../comm/types.js';
import type { CommMemory } from '../comm/wasm.js';
import { ConfigError, ShapeError } from '../errors.js';
import type { RankEnv } from './env.js';
import type { RankContext } from './spawn.js';

export interface ProcessRankContext extends RankContext {
  readonly masterAddr: string;
  readonly masterPort: number;
  /** Closes every group this context opened (gracefully: see TcpTransport.close). Idempotent. */
  close(): void;
}

export interface TcpContextOptions {
  /** how long initProcessGroup waits for the store and the peers (default: see rendezvousTimeout). */
  setupTimeoutMs?: number;
  quiet?: boolean;
}

export const DEFAULT_RENDEZVOUS_TIMEOUT_MS = 60_000;

/** The rendezvous timeout: the environment (the launcher's --rdzv-timeout) first, then the group options. */
export function rendezvousTimeout(env: RankEnv, opts: ThreadsGroupOptions): number {
  return (
    env.rendezvousTimeoutMs ?? opts.rendezvousTimeoutMs ?? Math.max(DEFAULT_RENDEZVOUS_TIMEOUT_MS, opts.timeoutMs ?? 0)
  );
}

export function tcpRankContext(env: RankEnv, o: TcpContextOptions = {}): ProcessRankContext {
  if (env.worldSize > 1 && !env.token) {
    throw new ConfigError(
      "ZEROTS_JOB_TOKEN is not set: every rank of a multi-process job must present the job's secret " +
        'token to join; start the job with `zerots launch` (it makes one), or export the same secret on every rank, e.g. ' +
        'ZEROTS_JOB_TOKEN=$(openssl rand -hex 32)',
      'ZEROTS_JOB_TOKEN',
    );
  }
  const transports: TcpTransport[] = [];
  let generation = 0;
  return {
    rank: env.rank,
    worldSize: env.worldSize,
    localRank: env.localRank,
    localWorldSize: env.localWorldSize,
    transport: 'tcp',
    restartCount: env.restartCount,
    masterAddr: env.masterAddr,
    masterPort: env.masterPort,
    async initProcessGroup(memory: CommMemory, opts: ThreadsGroupOptions = {}): Promise<ProcessGroup> {
      if (!(memory.buffer instanceof SharedArrayBuffer)) {
        throw new ShapeError(
          `rank ${env.rank}: initProcessGroup needs a shared WebAssembly.Memory (created with shared: true), ` +
            'whose buffers the TCP helper thread reads and writes in place; got an unshared memory',
        );
      }
      // Successive groups of one job get successive generations on every rank (conn.ts keeps them apart).
      const t = await TcpTransport.create({
        rank: env.rank,
        worldSize: env.worldSize,
        masterAddr: env.masterAddr,
        masterPort: env.masterPort,
        token: env.token ?? 'single-rank',
        bindAddr: env.bindAddr,
        nodeId: env.nodeId,
        group: generation++,
        setupTimeoutMs: o.setupTimeoutMs ?? rendezvousTimeout(env, opts),
        quiet: o.quiet,
      });
      transports.push(t);
      return new Group(t, { timeoutMs: opts.timeoutMs ?? env.timeoutMs });
    },
    close() {
      for (const t of transports) t.close();
    },
  };
}
