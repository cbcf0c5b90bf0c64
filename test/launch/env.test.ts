// Rank discovery from fake environments: each launcher's variables, the defaults, and refusals naming the variable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LAUNCH_PROTOCOL, discoverRank, firstSlurmHost, parseSlurmTasksPerNode } from '../../src/launch/env.js';
import { rendezvousTimeout } from '../../src/launch/tcp-context.js';
import { ConfigError } from '../../src/errors.js';

const pick = (e: ReturnType<typeof discoverRank>) => [e.rank, e.worldSize, e.localRank, e.localWorldSize, e.source];

test('no launcher: one rank on loopback, port 29500, tcp', () => {
  const e = discoverRank({});
  assert.deepEqual(pick(e), [0, 1, 0, 1, 'single']);
  assert.equal(e.masterAddr, '127.0.0.1');
  assert.equal(e.masterPort, 29500);
  assert.equal(e.transport, 'tcp');
  assert.equal(e.token, undefined);
});

test('zerots/torchrun variables, with rendezvous and token', () => {
  const e = discoverRank({
    RANK: '5',
    WORLD_SIZE: '8',
    LOCAL_RANK: '1',
    LOCAL_WORLD_SIZE: '4',
    MASTER_ADDR: 'node0',
    MASTER_PORT: '1234',
    ZEROTS_JOB_TOKEN: 'abc',
    ZEROTS_BIND_ADDR: '10.0.0.2',
    ZEROTS_COMM_TIMEOUT_MS: '5000',
  });
  assert.deepEqual(pick(e), [5, 8, 1, 4, 'zerots']);
  assert.deepEqual(
    [e.masterAddr, e.masterPort, e.token, e.bindAddr, e.timeoutMs],
    ['node0', 1234, 'abc', '10.0.0.2', 5000],
  );
  // LOCAL_* absent: every rank is local
  assert.deepEqual(pick(discoverRank({ RANK: '2', WORLD_SIZE: '3' })), [2, 3, 2, 3, 'zerots']);
});

test('Open MPI, PMI (MPICH/Intel MPI) and Slurm variables', () => {
  assert.deepEqual(
    pick(
      discoverRank({
        OMPI_COMM_WORLD_RANK: '3',
        OMPI_COMM_WORLD_SIZE: '4',
        OMPI_COMM_WORLD_LOCAL_RANK: '1',
        OMPI_COMM_WORLD_LOCAL_SIZE: '2',
      }),
    ),
    [3, 4, 1, 2, 'ompi'],
  );
  assert.deepEqual(pick(discoverRank({ PMI_RANK: '2', PMI_SIZE: '6', MPI_LOCALRANKID: '0', MPI_LOCALNRANKS: '3' })), [
    2,
    6,
    0,
    3,
    'pmi',
  ]);
  const s = discoverRank({
    SLURM_PROCID: '7',
    SLURM_NTASKS: '9',
    SLURM_LOCALID: '0',
    SLURM_NODEID: '3',
    SLURM_TASKS_PER_NODE: '2(x3),3',
    SLURM_JOB_NODELIST: 'gpu[07-10],login',
  });
  assert.deepEqual(pick(s), [7, 9, 0, 3, 'slurm']);
  assert.equal(s.masterAddr, 'gpu07');
  // MASTER_ADDR wins over the Slurm host list; RANK wins over the MPI variables
  assert.equal(
    discoverRank({
      SLURM_PROCID: '0',
      SLURM_NTASKS: '1',
      SLURM_LOCALID: '0',
      SLURM_JOB_NODELIST: 'a1',
      MASTER_ADDR: 'b2',
    }).masterAddr,
    'b2',
  );
  assert.equal(
    discoverRank({ RANK: '1', WORLD_SIZE: '2', OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2' }).source,
    'zerots',
  );
});

test('Slurm helpers', () => {
  assert.deepEqual(parseSlurmTasksPerNode('2(x3),1'), [2, 2, 2, 1]);
  assert.deepEqual(parseSlurmTasksPerNode('4'), [4]);
  assert.equal(firstSlurmHost('node[01-04,07]'), 'node01');
  assert.equal(firstSlurmHost('alpha,beta'), 'alpha');
  assert.throws(() => parseSlurmTasksPerNode('2x'), ConfigError);
});

test('refusals name the variable and say what is allowed', () => {
  const refuse = (env: Record<string, string>, path: string, msg: RegExp) => {
    assert.throws(
      () => discoverRank(env),
      (e: unknown) => e instanceof ConfigError && e.path === path && msg.test(e.message),
    );
  };
  refuse({ RANK: '0' }, 'WORLD_SIZE', /WORLD_SIZE is not set/);
  refuse({ RANK: 'x', WORLD_SIZE: '2' }, 'RANK', /not an integer >= 0/);
  refuse({ RANK: '2', WORLD_SIZE: '2' }, 'RANK', /rank 2 is not below the world size 2/);
  refuse({ RANK: '0', WORLD_SIZE: '2', LOCAL_RANK: '2', LOCAL_WORLD_SIZE: '2' }, 'LOCAL_RANK', /local rank 2/);
  refuse({ MASTER_PORT: '70000' }, 'MASTER_PORT', /not a TCP port/);
  refuse({ ZEROTS_TRANSPORT: 'udp' }, 'ZEROTS_TRANSPORT', /allowed: "tcp", "threads"/);
  refuse({ OMPI_COMM_WORLD_RANK: '0' }, 'OMPI_COMM_WORLD_SIZE', /is not set/);
});

const launched = { ZEROTS_LAUNCHER_PID: '4242', ZEROTS_LAUNCH_PROTOCOL: LAUNCH_PROTOCOL };
const world = { RANK: '1', WORLD_SIZE: '2', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2' };

test('a rank of zerots launch that finds no world is refused, not a silent world of 1', () => {
  assert.throws(
    () => discoverRank(launched),
    (e: unknown) => e instanceof ConfigError && /finds no world/.test(e.message) && /world of 1/.test(e.message),
  );
  assert.deepEqual(pick(discoverRank({ ...launched, ...world })), [1, 2, 1, 2, 'zerots']);
});

test("a rank of another install's launcher (another protocol) is refused", () => {
  for (const proto of ['1', undefined])
    assert.throws(
      () => discoverRank({ ZEROTS_LAUNCHER_PID: '4242', ZEROTS_LAUNCH_PROTOCOL: proto, ...world }),
      (e: unknown) =>
        e instanceof ConfigError && e.path === 'ZEROTS_LAUNCH_PROTOCOL' && /another install/.test(e.message),
    );
});

test('rendezvous timeout and node id: the environment, then the options, then 60 s (or a longer timeoutMs)', () => {
  const e = discoverRank({ ...world, ZEROTS_RENDEZVOUS_TIMEOUT_MS: '2500', ZEROTS_NODE_ID: 'rack3-a' });
  assert.equal(e.rendezvousTimeoutMs, 2500);
  assert.equal(e.nodeId, 'rack3-a');
  assert.equal(rendezvousTimeout(e, { rendezvousTimeoutMs: 9000 }), 2500);
  const plain = discoverRank(world);
  assert.equal(rendezvousTimeout(plain, { rendezvousTimeoutMs: 9000 }), 9000);
  assert.equal(rendezvousTimeout(plain, { timeoutMs: 300 }), 60_000);
  assert.equal(rendezvousTimeout(plain, { timeoutMs: 120_000 }), 120_000);
  assert.throws(() => discoverRank({ ...world, ZEROTS_RENDEZVOUS_TIMEOUT_MS: 'soon' }), ConfigError);
});

test('[native mpi] the transport defaults to mpi under mpirun, a PMI launcher or srun with PMIx; else tcp', () => {
  const t = (env: Record<string, string>) => {
    const e = discoverRank(env);
    return [e.transport, e.mpiLaunched, e.transportExplicit];
  };
  assert.deepEqual(t({ OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2' }), ['mpi', true, false]);
  assert.deepEqual(t({ PMI_RANK: '1', PMI_SIZE: '2' }), ['mpi', true, false]);
  assert.deepEqual(t({ SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_LOCALID: '0', PMIX_RANK: '0' }), [
    'mpi',
    true,
    false,
  ]);
  assert.deepEqual(t({ SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_LOCALID: '0' }), ['tcp', false, false]);
  assert.deepEqual(t({ RANK: '0', WORLD_SIZE: '2' }), ['tcp', false, false]);
  assert.deepEqual(t({ OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2', ZEROTS_TRANSPORT: 'tcp' }), [
    'tcp',
    true,
    true,
  ]);
});
