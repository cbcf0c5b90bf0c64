// [native mpi] A command asked for the MPI transport outside an MPI job (`zerots train --transport mpi`,
// `zerots bench comm --transport mpi`): start the job ourselves, the same command on every rank under
// `mpirun -np N`, as a user would type it (see README "Native backends" for the hostfile form). The ranks find
// each other through mpirun (no store, no token) and take the MPI transport from ZEROTS_TRANSPORT=mpi.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';

/** mpirun's arguments for N ranks on this machine: root allowed (CI runs as root), oversubscribed past the cores. */
export function mpirunArgs(worldSize: number): string[] {
  const args = ['-np', String(worldSize)];
  if (process.getuid?.() === 0) args.push('--allow-run-as-root');
  if (worldSize > availableParallelism()) args.push('--oversubscribe');
  return args;
}

/**
 * Runs `zerots <command...>` on `worldSize` ranks under mpirun with ZEROTS_TRANSPORT=mpi, its output inherited;
 * the exit status becomes this process's. Throws a ConfigError when mpirun cannot be started.
 */
export function runUnderMpirun(what: string, worldSize: number, command: string[], env: NodeJS.ProcessEnv = {}): void {
  const args = mpirunArgs(worldSize);
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  console.log(`${what}: starting mpirun ${args.join(' ')} ...`);
  const r = spawnSync('mpirun', [...args, process.execPath, main, ...command], {
    stdio: 'inherit',
    env: { ...process.env, ZEROTS_TRANSPORT: 'mpi', ...env },
  });
  if (r.error)
    throw new ConfigError(
      `${what}: cannot start mpirun (${r.error.message}); install Open MPI (Debian/Ubuntu: openmpi-bin), or use ` +
        '--transport tcp',
      'mpirun',
    );
  if (r.status !== 0) process.exitCode = r.status ?? 1;
}
