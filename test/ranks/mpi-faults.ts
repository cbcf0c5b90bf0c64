// Started by mpirun (test/comm/mpi-collectives.test.ts) on 2 ranks. 'mismatch': the ranks call all-reduces of
// different sizes; each prints the error it got. 'timeout': rank 1 sleeps instead of joining a collective; rank 0's
// watchdog prints the timeout and ends it, and mpirun ends the job.
import { initFromEnv } from '../../src/launch/index.js';
import { testDevice } from '../helpers/test-device.js';

const mode = process.argv[2];
const ctx = initFromEnv();
const dev = testDevice(1 << 20);
const pg = await ctx.initProcessGroup(dev.memory, { timeoutMs: mode === 'timeout' ? 300 : 30_000 });
if (mode === 'mismatch') {
  let error = 'none';
  try {
    pg.allReduce(dev.f32(ctx.rank === 0 ? 4 : 5));
  } catch (e) {
    error = `${(e as Error).name}: ${(e as Error).message}`;
  }
  console.log(JSON.stringify({ rank: ctx.rank, error }));
} else {
  if (ctx.rank === 1) await new Promise((r) => setTimeout(r, 20_000));
  else pg.allReduce(dev.f32(4));
  console.log(JSON.stringify({ rank: ctx.rank, error: 'none' }));
}
