// Started by mpirun (test/comm/mpi-collectives.test.ts): runs the collectives fixture on the MPI transport, once
// through initFromEnv (the default staging) and once on a group with 4 KiB staging, so that the larger sizes
// cross segment boundaries; prints one JSON line per rank.
import { Group } from '../../src/comm/group.js';
import { loadLibMpi } from '../../src/comm/mpi/libmpi.js';
import { MpiTransport } from '../../src/comm/mpi/mpi-transport.js';
import { initFromEnv } from '../../src/launch/index.js';
import { collectives } from './collectives.js';

const which = process.argv[2] ?? 'both'; // 'default' | 'small' | 'both'
const ctx = initFromEnv();
const none = { failures: [] as string[], checks: 0, calls: {} };
const a = which === 'small' ? none : await collectives(ctx);
const mpi = loadLibMpi();
if (!mpi.ok) throw new Error(mpi.reason);
const small =
  which === 'default'
    ? none
    : await collectives({
        ...ctx,
        initProcessGroup: async (_m, o) => new Group(new MpiTransport(mpi.value, 4096), { timeoutMs: o?.timeoutMs }),
      });
console.log(
  JSON.stringify({
    rank: ctx.rank,
    transport: ctx.transport,
    failures: [...a.failures, ...small.failures],
    checks: a.checks + small.checks,
    calls: which === 'small' ? small.calls : a.calls,
  }),
);
