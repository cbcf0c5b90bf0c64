// A script run by `zerots launch` in the lifecycle tests (test/launch/lifecycle.test.ts). argv: <outDir> <mode>.
//   print: 300 numbered lines per rank, then end (no process group);
//   train: join the group, write ready-<rank> with the pid, then "train" (synchronous busy work and an all-reduce,
//          never printing, the main thread never idle) until a rank sees <outDir>/stop (all stop at the same
//          step); then write done-<rank>;
//   ok:    join the group, all-reduce, write links-<rank>.json (the group's links), leave;
//   train-print: train, printing `rank R step i` each step (also appended to <outDir>/lines-<rank>, to count what
//          reached the launcher); train-throw: the same, and rank 1 throws at step 20 (test/helpers/fault-table.ts).
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initFromEnv } from '../../src/launch/index.js';
import { testDevice } from '../helpers/test-device.js';

const ctx = initFromEnv();
const [outDir, mode] = ctx.argv as [string, string];
if (mode === 'print') {
  for (let i = 0; i < 300; i++) console.log(`rank ${ctx.rank} line ${i}`);
} else {
  const dev = testDevice(1 << 20);
  const pg = await ctx.initProcessGroup(dev.memory, { timeoutMs: 60_000 });
  const buf = dev.f32(256);
  if (mode.startsWith('train')) {
    writeFileSync(join(outDir, `ready-${ctx.rank}`), String(process.pid));
    let x = 0;
    for (let step = 0; ; step++) {
      // the ranks agree on stopping through the all-reduce: a rank that saw the stop file while its peer had already
      // looked would leave the peer alone in the next all-reduce (PeerLostError, a non-zero exit) under load
      const stop = existsSync(join(outDir, 'stop'));
      for (const end = Date.now() + (stop ? 0 : 50); Date.now() < end; ) x += Math.sqrt(x + 1);
      buf.fill(1);
      buf[0] = stop ? 1 : 0;
      pg.allReduce(buf);
      if (buf[0]! > 0) break;
      if (mode === 'train-throw' && ctx.rank === 1 && step === 20) throw new Error('boom at step 20');
      if (mode !== 'train') {
        const line = `rank ${ctx.rank} step ${step}`;
        console.log(line);
        appendFileSync(join(outDir, `lines-${ctx.rank}`), `${line}\n`);
      }
    }
    writeFileSync(join(outDir, `done-${ctx.rank}`), String(x > 0));
  } else {
    buf.fill(ctx.rank + 1);
    pg.allReduce(buf);
    writeFileSync(
      join(outDir, `links-${ctx.rank}.json`),
      JSON.stringify({ rank: ctx.rank, worldSize: ctx.worldSize, sum: buf[0], links: pg.links ?? [] }),
    );
  }
  pg.destroy();
}
