// Issue 9's by-hand experiment, redone: 2 thread ranks with 144 MiB each, GPT 4 x 384 (6 heads, context 64, vocab
// 256), bf16; the largest micro-batch per ZeRO stage (0, 1, 2, 3, 3 + cpu offload; 1 and 2 with optimizer offload
// too) with and without activation checkpointing, found with real out-of-memory errors: each trial is a fresh world
// training 2 steps (bench memory's rank program), walking from the estimator's prediction up while it trains and
// down while it does not. Prints one line per case and a JSON line. node tools/by-hand-max-batch.mjs [MiB]
import { spawnWorld } from '../dist/src/launch/index.js';
import { largestMicroBatch } from '../dist/src/estimate/peak.js';
import { RESERVED_BYTES } from '../dist/src/tensor/device.js';
import { peakInputFor } from '../dist/src/cli/bench-memory.js';

const capacity = Number(process.argv[2] ?? 144) * 2 ** 20;
const model = { vocabSize: 256, blockSize: 64, nLayer: 4, nHead: 6, nEmbd: 384 };
const rank = new URL('../dist/src/cli/bench-memory-rank.js', import.meta.url);
const fits = async (c, micro) => {
  const res = await spawnWorld({
    worldSize: 2,
    transport: 'threads',
    module: rank,
    fn: 'memoryRank',
    args: { cases: [{ ...c, micro }], deviceBytes: capacity, steps: 2, timeoutMs: 60_000 },
  });
  return res.every((r) => r[0]?.ok === true);
};
const cases = [
  ['DDP (stage 0)', 0, false],
  ['ZeRO-1', 1, false],
  ['ZeRO-2', 2, false],
  ['ZeRO-3', 3, false],
  ['ZeRO-3 + cpu offload', 3, true],
];
const rows = [];
for (const [label, stage, offload] of cases)
  for (const checkpoint of [false, true]) {
    const c = { model, precision: 'bf16', stage, offload, checkpoint };
    const predicted = largestMicroBatch(peakInputFor({ ...c, micro: 1 }), capacity - RESERVED_BYTES);
    let found = Math.max(1, predicted);
    let trials = 0;
    const trial = (micro) => {
      trials++;
      return fits(c, micro);
    };
    if (await trial(found)) {
      while (await trial(found + 1)) found++;
    } else {
      found--;
      while (found >= 1 && !(await trial(found))) found--;
    }
    rows.push({ label, stage, offload, checkpoint, predicted, found, trials });
    console.log(
      `${label.padEnd(22)} ${checkpoint ? 'checkpointed' : '            '}  largest micro-batch ${found} ` +
        `(predicted ${predicted}, ${trials} trials)`,
    );
  }
console.log(JSON.stringify({ experiment: 'by-hand max batch', capacity_mib: capacity / 2 ** 20, model, rows }));
