// Rank discovery: the ONLY place in zerots that reads process.env (readProcessEnv below). Everything else takes
// the pure result of discoverRank(env), so tests drive it with fake environments.
//
// Sources, first match wins (each is a complete set; a partial set is refused rather than silently mixed):
//   1. zerots/torchrun style: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE
//   2. Open MPI: OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK, _LOCAL_SIZE
//   3. PMI (MPICH/Intel MPI hydra): PMI_RANK, PMI_SIZE, MPI_LOCALRANKID, MPI_LOCALNRANKS
//   4. Slurm: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_TASKS_PER_NODE + SLURM_NODEID; master from
//      SLURM_JOB_NODELIST's first host
//   5. none: a single rank (rank 0 of 1).
// Rendezvous: MASTER_ADDR (default 127.0.0.1, or the first Slurm host), MASTER_PORT (default 29500),
// ZEROTS_JOB_TOKEN (the job's secret), ZEROTS_BIND_ADDR (where listeners bind; default: loopback when the master is
// loopback, else the interface that reaches the master; outgoing connections leave from it too), ZEROTS_NODE_ID
// (this node's identity: ranks with the same one may use Unix sockets between them; default hostname + boot id),
// ZEROTS_RENDEZVOUS_TIMEOUT_MS (how long to wait for the store and the peers), ZEROTS_TRANSPORT ('tcp' default,
// 'threads', or 'mpi': the default under mpirun, PMI_SIZE, or srun with PMIX_RANK). Set by `zerots launch` only:
// ZEROTS_LAUNCHER_PID (the ranks watch it, watch-launcher.ts), ZEROTS_LAUNCH_PROTOCOL (a rank of another install's
// launcher is refused rather than misread) and ZEROTS_RESTART_COUNT (the job's restarts so far under
// --max-restarts: ctx.restartCount; [Note: elastic restart]).
import { ConfigError } from '../errors.js';

export type EnvLike = Readonly<Record<string, string | undefined>>;
export type RankSource = 'zerots' | 'ompi' | 'pmi' | 'slurm' | 'single';

export interface RankEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
  /** the job's secret token (ZEROTS_JOB_TOKEN); undefined when not set. */
  token: string | undefined;
  /** ZEROTS_BIND_ADDR, when set. */
  bindAddr: string | undefined;
  /** ZEROTS_TRANSPORT; default 'mpi' under an MPI launcher (tcp when libmpi does not load), else 'tcp'. */
  transport: 'threads' | 'tcp' | 'mpi';
  /** True when ZEROTS_TRANSPORT chose the transport (then MPI is required, not tried). */
  transportExplicit?: boolean;
  /** ZEROTS_COMM_TIMEOUT_MS, when set: default collective timeout. */
  timeoutMs: number | undefined;
  /** ZEROTS_RENDEZVOUS_TIMEOUT_MS, when set: how long setup waits for the store and the peers. */
  rendezvousTimeoutMs: number | undefined;
  /** ZEROTS_NODE_ID, when set: ranks with equal ids are on one machine (Unix sockets between them). */
  nodeId: string | undefined;
  /** ZEROTS_RESTART_COUNT: how many times `zerots launch --max-restarts` has restarted this job (0: first run). */
  restartCount: number;
  /** ZEROTS_LAUNCHER_PID is set: this process is a rank of `zerots launch`. */
  launched: boolean;
  /** Started by mpirun, a PMI launcher or srun with PMIx: this process is a rank of that job ([native mpi]). */
  mpiLaunched: boolean;
  source: RankSource;
}

export const DEFAULT_MASTER_ADDR = '127.0.0.1';
export const DEFAULT_MASTER_PORT = 29500;
/** What `zerots launch` and its ranks agree on (the variables above); bumped when that changes. */
export const LAUNCH_PROTOCOL = '2';

/** The launcher this process was started by (ZEROTS_LAUNCHER_PID), if any. */
export function launcherOf(env: EnvLike): { pid: number; label: string } | null {
  const pid = Number(env.ZEROTS_LAUNCHER_PID ?? '');
  if (!Number.isInteger(pid) || pid <= 0) return null;
  return { pid, label: `rank ${env.RANK ?? '?'} (pid ${process.pid})` };
}

/** A rank of a launcher must find its world there: never a silent world of 1, never another install's variables. */
function checkLauncher(env: EnvLike, source: RankSource): void {
  const launched = env.ZEROTS_LAUNCHER_PID !== undefined || env.ZEROTS_LAUNCH_PROTOCOL !== undefined;
  if (!launched) return;
  const proto = env.ZEROTS_LAUNCH_PROTOCOL;
  if (proto !== LAUNCH_PROTOCOL)
    throw new ConfigError(
      `this rank was started by a zerots launcher of another install (ZEROTS_LAUNCH_PROTOCOL=${JSON.stringify(proto)}; ` +
        `this install speaks ${LAUNCH_PROTOCOL}): run the script with the \`zerots launch\` of the same install`,
      'ZEROTS_LAUNCH_PROTOCOL',
    );
  if (source === 'single')
    throw new ConfigError(
      `this process was started by zerots launch (ZEROTS_LAUNCHER_PID=${env.ZEROTS_LAUNCHER_PID}) but finds no ` +
        'world: RANK and WORLD_SIZE are not set (were they removed from the environment?); refusing to run as a ' +
        'world of 1',
      'RANK',
    );
}

function int(env: EnvLike, key: string, min: number): number {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '')
    throw new ConfigError(
      `environment variable ${key} is not set; it is required with the other variables of its launcher`,
      key,
    );
  const v = Number(raw.trim());
  if (!Number.isInteger(v) || v < min)
    throw new ConfigError(`environment variable ${key}=${JSON.stringify(raw)} is not an integer >= ${min}`, key);
  return v;
}

function optInt(env: EnvLike, key: string, min: number): number | undefined {
  return env[key] === undefined || env[key]!.trim() === '' ? undefined : int(env, key, min);
}

/** Expands Slurm's SLURM_TASKS_PER_NODE ("2(x3),1") into tasks per node, node by node. */
export function parseSlurmTasksPerNode(s: string): number[] {
  const out: number[] = [];
  for (const part of s.split(',')) {
    const m = /^\s*(\d+)(?:\(x(\d+)\))?\s*$/.exec(part);
    if (!m)
      throw new ConfigError(
        `SLURM_TASKS_PER_NODE=${JSON.stringify(s)}: cannot read part ${JSON.stringify(part)}; expected forms like "2(x3),1"`,
        'SLURM_TASKS_PER_NODE',
      );
    for (let i = 0; i < Number(m[2] ?? 1); i++) out.push(Number(m[1]));
  }
  return out;
}

/** First host of a Slurm hostlist: "node[07-09,12],gpu1" -> "node07". */
export function firstSlurmHost(list: string): string {
  const m = /^([^,[]+)(?:\[([^\]]+)\])?/.exec(list.trim());
  if (!m)
    throw new ConfigError(
      `SLURM_JOB_NODELIST=${JSON.stringify(list)}: cannot read the first host`,
      'SLURM_JOB_NODELIST',
    );
  if (m[2] === undefined) return m[1]!;
  return m[1]! + m[2].split(',')[0]!.split('-')[0]!;
}

function ranks(
  env: EnvLike,
): Pick<RankEnv, 'rank' | 'worldSize' | 'localRank' | 'localWorldSize' | 'source'> & { master?: string } {
  if (env.RANK !== undefined || env.WORLD_SIZE !== undefined) {
    const worldSize = int(env, 'WORLD_SIZE', 1);
    const rank = int(env, 'RANK', 0);
    // LOCAL_* may be absent with a hand-set RANK/WORLD_SIZE: then every rank is taken as local.
    const localWorldSize = optInt(env, 'LOCAL_WORLD_SIZE', 1) ?? worldSize;
    const localRank = optInt(env, 'LOCAL_RANK', 0) ?? rank % localWorldSize;
    return { rank, worldSize, localRank, localWorldSize, source: 'zerots' };
  }
  if (env.OMPI_COMM_WORLD_RANK !== undefined) {
    const worldSize = int(env, 'OMPI_COMM_WORLD_SIZE', 1);
    return {
      rank: int(env, 'OMPI_COMM_WORLD_RANK', 0),
      worldSize,
      localRank: optInt(env, 'OMPI_COMM_WORLD_LOCAL_RANK', 0) ?? 0,
      localWorldSize: optInt(env, 'OMPI_COMM_WORLD_LOCAL_SIZE', 1) ?? 1,
      source: 'ompi',
    };
  }
  if (env.PMI_RANK !== undefined) {
    return {
      rank: int(env, 'PMI_RANK', 0),
      worldSize: int(env, 'PMI_SIZE', 1),
      localRank: optInt(env, 'MPI_LOCALRANKID', 0) ?? optInt(env, 'PMI_LOCAL_RANK', 0) ?? 0,
      localWorldSize: optInt(env, 'MPI_LOCALNRANKS', 1) ?? optInt(env, 'PMI_LOCAL_SIZE', 1) ?? 1,
      source: 'pmi',
    };
  }
  if (env.SLURM_PROCID !== undefined) {
    const rank = int(env, 'SLURM_PROCID', 0);
    const worldSize = int(env, 'SLURM_NTASKS', 1);
    const localRank = int(env, 'SLURM_LOCALID', 0);
    let localWorldSize = 1;
    if (env.SLURM_TASKS_PER_NODE !== undefined) {
      const perNode = parseSlurmTasksPerNode(env.SLURM_TASKS_PER_NODE);
      localWorldSize = perNode[optInt(env, 'SLURM_NODEID', 0) ?? 0] ?? perNode[0]!;
    } else if (env.SLURM_NTASKS_PER_NODE !== undefined) {
      localWorldSize = int(env, 'SLURM_NTASKS_PER_NODE', 1);
    }
    const list = env.SLURM_JOB_NODELIST ?? env.SLURM_NODELIST;
    return {
      rank,
      worldSize,
      localRank,
      localWorldSize,
      source: 'slurm',
      master: list ? firstSlurmHost(list) : undefined,
    };
  }
  return { rank: 0, worldSize: 1, localRank: 0, localWorldSize: 1, source: 'single' };
}

/** Pure: the rank layout and rendezvous settings described by `env`. Throws ConfigError naming the variable. */
export function discoverRank(env: EnvLike): RankEnv {
  const { master, ...r } = ranks(env);
  checkLauncher(env, r.source);
  if (r.rank >= r.worldSize)
    throw new ConfigError(
      `rank ${r.rank} is not below the world size ${r.worldSize} (from ${r.source} variables)`,
      r.source === 'zerots' ? 'RANK' : r.source,
    );
  if (r.localRank >= r.localWorldSize)
    throw new ConfigError(
      `local rank ${r.localRank} is not below the local world size ${r.localWorldSize} (from ${r.source} variables)`,
      r.source === 'zerots' ? 'LOCAL_RANK' : r.source,
    );
  if (r.localWorldSize > r.worldSize)
    throw new ConfigError(
      `local world size ${r.localWorldSize} exceeds the world size ${r.worldSize}`,
      'LOCAL_WORLD_SIZE',
    );
  const masterPort = optInt(env, 'MASTER_PORT', 1) ?? DEFAULT_MASTER_PORT;
  if (masterPort > 65535)
    throw new ConfigError(`MASTER_PORT=${masterPort} is not a TCP port (1..65535)`, 'MASTER_PORT');
  const transport = env.ZEROTS_TRANSPORT ?? (startedByMpi(env, r.source) ? 'mpi' : 'tcp'); // [native mpi]
  if (transport !== 'tcp' && transport !== 'threads' && transport !== 'mpi')
    throw new ConfigError(
      `ZEROTS_TRANSPORT=${JSON.stringify(transport)}; allowed: "tcp", "threads", "mpi"`,
      'ZEROTS_TRANSPORT',
    );
  const token = env.ZEROTS_JOB_TOKEN?.trim() || undefined;
  return {
    ...r,
    masterAddr: env.MASTER_ADDR?.trim() || master || DEFAULT_MASTER_ADDR,
    masterPort,
    token,
    bindAddr: env.ZEROTS_BIND_ADDR?.trim() || undefined,
    transport,
    transportExplicit: env.ZEROTS_TRANSPORT !== undefined,
    timeoutMs: optInt(env, 'ZEROTS_COMM_TIMEOUT_MS', 1),
    rendezvousTimeoutMs: optInt(env, 'ZEROTS_RENDEZVOUS_TIMEOUT_MS', 1),
    nodeId: env.ZEROTS_NODE_ID?.trim() || undefined,
    restartCount: optInt(env, 'ZEROTS_RESTART_COUNT', 0) ?? 0,
    launched: launcherOf(env) !== null,
    mpiLaunched: startedByMpi(env, r.source),
  };
}

/**
 * [native mpi] Started by an MPI launcher: Open MPI's mpirun (OMPI_COMM_WORLD_*), a PMI launcher (PMI_SIZE: hydra,
 * or srun --mpi=pmi2) or srun with PMIx (PMIX_RANK). The transport then defaults to MPI (TCP when libmpi does not
 * load), and `zerots train` runs as one rank of the job.
 */
function startedByMpi(env: EnvLike, source: RankSource): boolean {
  return source === 'ompi' || source === 'pmi' || (source === 'slurm' && env.PMIX_RANK !== undefined);
}

/** The one read of process.env in zerots. */
export function readProcessEnv(): RankEnv {
  return discoverRank(process.env);
}

/** A copy of this process's environment, for the launcher to extend for its children. */
export function inheritedEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) out[k] = v;
  return out;
}
