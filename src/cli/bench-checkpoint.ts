// `zerots bench checkpoint [--params 100e6] [--world-size 2]`: checkpoint save and load throughput (GB/s of shard
// bytes over the whole world) against a plain file copy of the same bytes (every rank copies its shard: read, write,
// fsync) measured in the same run, on the same disk. Best of --repeats rounds each. Last line: one JSON record.
// Goal: save and load >= 0.5 x the copy.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnWorld } from '../launch/spawn.js';
import type { CheckpointBenchRound, CheckpointBenchSpec } from '../train/checkpoint-bench-rank.js';

export interface BenchCheckpointOptions {
  params?: number;
  worldSize?: number;
  repeats?: number;
  /** where to write (default a fresh folder under the system's temporary folder, removed at the end) */
  dir?: string;
}

/** GPT-2 small's width (d 768, 12 heads, vocabulary 50257, context 1024) with as many layers as reach `params`. */
export function benchModel(params: number): CheckpointBenchSpec['model'] {
  const C = 768;
  const perLayer = 12 * C * C + 13 * C;
  const fixed = 50257 * C + 1024 * C + 2 * C;
  return {
    vocabSize: 50257,
    blockSize: 1024,
    nHead: 12,
    nEmbd: C,
    nLayer: Math.max(1, Math.round((params - fixed) / perLayer)),
    seed: 1,
  };
}

export async function benchCheckpoint(o: BenchCheckpointOptions = {}): Promise<unknown> {
  const model = benchModel(o.params ?? 100e6);
  const N = o.worldSize ?? 2;
  const numel = 50257 * 768 + 1024 * 768 + 2 * 768 + model.nLayer * (12 * 768 * 768 + 13 * 768);
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'zerots-bench-ckpt-'));
  console.log(
    `bench checkpoint: GPT ${model.nLayer} layers, d 768 (${(numel / 1e6).toFixed(1)}M parameters), ZeRO stage 2 fp32 ` +
      `(master + Adam m, v), ${N} thread ranks, ${o.repeats ?? 3} rounds, in ${dir}`,
  );
  let rounds: CheckpointBenchRound[];
  try {
    const res = await spawnWorld<CheckpointBenchRound[]>({
      worldSize: N,
      module: new URL('../train/checkpoint-bench-rank.js', import.meta.url),
      fn: 'benchCheckpointRank',
      args: {
        dir,
        model,
        repeats: o.repeats ?? 3,
        deviceBytes: Math.min(
          4096 * 2 ** 20 - 65536,
          Math.ceil(((numel * 4 * 3.2) / N + numel * 4) / 2 ** 20) * 2 ** 20,
        ),
      } satisfies CheckpointBenchSpec,
      timeoutMs: 3_600_000,
    });
    rounds = res[0];
  } finally {
    if (o.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
  const bytes = rounds[0].bytes;
  const best = (k: 'saveSeconds' | 'copySeconds' | 'loadSeconds') => Math.min(...rounds.map((r) => r[k]));
  const gbs = (sec: number) => bytes / sec / 1e9;
  const save = gbs(best('saveSeconds'));
  const copy = gbs(best('copySeconds'));
  const load = gbs(best('loadSeconds'));
  for (const [i, r] of rounds.entries())
    console.log(
      `round ${i + 1}: save ${r.saveSeconds.toFixed(2)} s, copy ${r.copySeconds.toFixed(2)} s, load ${r.loadSeconds.toFixed(2)} s`,
    );
  console.log(
    `${(bytes / 1e9).toFixed(2)} GB of shards: save ${save.toFixed(2)} GB/s, load ${load.toFixed(2)} GB/s, plain copy ` +
      `${copy.toFixed(2)} GB/s; save/copy ${(save / copy).toFixed(2)}, load/copy ${(load / copy).toFixed(2)} (goal >= 0.5)`,
  );
  const record = {
    bench: 'checkpoint',
    params: numel,
    worldSize: N,
    bytes,
    saveGBs: save,
    loadGBs: load,
    copyGBs: copy,
    saveVsCopy: save / copy,
    loadVsCopy: load / copy,
    rounds,
  };
  console.log(JSON.stringify(record));
  return record;
}
