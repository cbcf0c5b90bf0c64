// Rank program of `zerots bench checkpoint`: a GPT under the ZeRO engine (stage 2, fp32: master weights and Adam's
// two moments saved), timed over `repeats` rounds of: save, a plain copy of this rank's shard file (read and write in
// 8 MiB blocks, fsync: the same bytes, the same disk), load. Every timing starts and ends at a barrier, so it is the
// slowest rank's time for the whole world's bytes.
import { closeSync, fsyncSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { RankContext } from '../launch/spawn.js';
import { Device } from '../tensor/device.js';
import { GPT, type GPTConfig } from '../nn/gpt.js';
import { initialize } from '../zero/engine.js';
import { commOptionsFor } from '../zero/comm-options.js';
import { shardFileName, type Manifest } from '../checkpoint/index.js';

export interface CheckpointBenchSpec {
  dir: string;
  model: GPTConfig;
  repeats: number;
  deviceBytes: number;
}

export interface CheckpointBenchRound {
  bytes: number;
  saveSeconds: number;
  copySeconds: number;
  loadSeconds: number;
}

function copyFile(from: string, to: string): void {
  const src = openSync(from, 'r');
  const dst = openSync(to, 'w');
  try {
    const b = Buffer.allocUnsafeSlow(8 << 20);
    let pos = 0;
    for (;;) {
      const n = readSync(src, b, 0, b.length, pos);
      if (n === 0) break;
      let done = 0;
      while (done < n) done += writeSync(dst, b, done, n - done, pos + done);
      pos += n;
    }
    fsyncSync(dst);
  } finally {
    closeSync(src);
    closeSync(dst);
  }
}

export async function benchCheckpointRank(ctx: RankContext, s: CheckpointBenchSpec): Promise<CheckpointBenchRound[]> {
  const config = {
    train_micro_batch_size_per_gpu: 1,
    optimizer: { type: 'AdamW', params: { lr: 1e-4 } },
    zero_optimization: { stage: 2, reduce_bucket_size: 50_000_000 },
  };
  const device = new Device({ capacityBytes: s.deviceBytes, kernels: 'wasm', name: `rank${ctx.rank}` });
  const comm = commOptionsFor(device, config, { worldSize: ctx.worldSize, progressThread: false });
  const group = await ctx.initProcessGroup(device.memory, comm.options);
  const model = new GPT(device, s.model, { materialize: false });
  const engine = initialize({ model, config, group, device });
  const out: CheckpointBenchRound[] = [];
  const timed = (fn: () => void) => {
    group.barrier();
    const t0 = performance.now();
    fn();
    group.barrier();
    return (performance.now() - t0) / 1000;
  };
  try {
    for (let i = 0; i < s.repeats; i++) {
      const tag = `round-${i}`;
      const saveSeconds = timed(() => engine.saveCheckpoint(s.dir, { tag }));
      const m = JSON.parse(readFileSync(join(s.dir, tag, 'manifest.json'), 'utf8')) as Manifest;
      const bytes = m.files.reduce((a, f) => a + f.bytes, 0);
      const mine = join(s.dir, tag, shardFileName(ctx.rank, ctx.worldSize));
      const copy = join(s.dir, `copy-${i}-${ctx.rank}`);
      const copySeconds = timed(() => copyFile(mine, copy));
      const loadSeconds = timed(() => engine.loadCheckpoint(s.dir, { tag }));
      rmSync(copy, { force: true });
      group.barrier();
      if (ctx.rank === 0) rmSync(join(s.dir, tag), { recursive: true, force: true });
      out.push({ bytes, saveSeconds, copySeconds, loadSeconds });
    }
  } finally {
    engine.dispose();
  }
  return out;
}
