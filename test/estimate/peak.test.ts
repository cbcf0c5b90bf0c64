// The predicted peak (src/estimate/peak.ts) against the device peak measured on 2 thread ranks training a small GPT
// through the engine (stages 0-3, fp32 and bf16, checkpointing and offload), and the predicted largest micro-batch
// against real out-of-memory errors. `zerots bench memory` runs the full matrix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnWorld } from '../../src/launch/index.js';
import { largestMicroBatch, predictPeak } from '../../src/estimate/index.js';
import { FRAGMENTATION, FRAGMENTATION_CHECKPOINTED, fragmentationFor } from '../../src/estimate/peak.js';
import { peakInputFor } from '../../src/cli/bench-memory.js';
import type { MemoryCase, MemoryResult } from '../../src/cli/bench-memory-rank.js';
import { RESERVED_BYTES } from '../../src/tensor/device.js';

const RANK = new URL('../../src/cli/bench-memory-rank.js', import.meta.url);
const MODEL = { vocabSize: 96, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 64 };

async function world(cases: MemoryCase[], deviceBytes: number): Promise<MemoryResult[][]> {
  return spawnWorld<MemoryResult[]>({
    worldSize: 2,
    transport: 'threads',
    module: RANK,
    fn: 'memoryRank',
    // one host thread for an offloaded step, as peakInputFor assumes
    args: { cases, deviceBytes, steps: 2, timeoutMs: 15_000, offloadThreads: 1 },
  });
}

test('predicted peak within 5% of the measured one (stages 0-3, fp32/bf16, checkpointing, offload)', async () => {
  const cases: MemoryCase[] = [];
  for (const precision of ['fp32', 'bf16'] as const)
    for (const stage of [0, 1, 2, 3] as const)
      cases.push({ model: MODEL, micro: 6, stage, precision, checkpoint: stage % 2 === 1, offload: stage === 3 });
  const res = await world(cases, 128 << 20);
  cases.forEach((c, i) => {
    const measured = Math.max(res[0]![i]!.peak, res[1]![i]!.peak);
    const p = predictPeak(peakInputFor(c));
    const rel = Math.abs(p.total - measured) / measured;
    assert.ok(rel <= 0.05, `${JSON.stringify({ ...c, model: 0 })}: predicted ${p.total}, measured ${measured}`);
    if (c.offload) {
      const host = Math.max(res[0]![i]!.hostPeak, res[1]![i]!.hostPeak);
      assert.ok(Math.abs(p.host - host) <= 0.05 * host, `host: predicted ${p.host}, measured ${host}`);
    }
  });
});

test('the predicted largest micro-batch is consistent with real out-of-memory errors (k - 1 trains, k + 3 does not)', async () => {
  const c = { model: MODEL, stage: 2 as const, precision: 'bf16' as const, checkpoint: false, offload: false };
  const capacity = 12 << 20;
  const k = largestMicroBatch(peakInputFor({ ...c, micro: 1 }), capacity - RESERVED_BYTES);
  assert.ok(k >= 3, `predicted ${k}`);
  const fits = async (micro: number) => (await world([{ ...c, micro }], capacity)).every((r) => r[0]?.ok === true);
  assert.ok(await fits(k - 1), `micro-batch ${k - 1} fits ${capacity} bytes`);
  const over = await world([{ ...c, micro: k + 3 }], capacity);
  assert.ok(
    over.some((r) => r[0]?.oom === true),
    `micro-batch ${k + 3} runs out of memory: ${JSON.stringify(over.map((r) => r[0]?.error))}`,
  );
});

test('the fragmentation allowance follows the share of checkpointed blocks; the step workspace is one bucket', () => {
  const x = { model: MODEL, micro: 4, worldSize: 2, stage: 0 as const, precision: 'bf16' as const };
  const none = predictPeak(x);
  const all = predictPeak({ ...x, checkpointing: true });
  const half = predictPeak({ ...x, checkpointing: [true, false] });
  assert.equal(none.checkpointedShare, 0);
  assert.equal(all.checkpointedShare, 1);
  assert.equal(half.checkpointedShare, 0.5);
  assert.equal(fragmentationFor(none), FRAGMENTATION);
  assert.equal(fragmentationFor(all), FRAGMENTATION_CHECKPOINTED);
  assert.ok(fragmentationFor(half) > FRAGMENTATION && fragmentationFor(half) < FRAGMENTATION_CHECKPOINTED);
  // stage 0 bf16: the step decodes one bucket's gradients at a time (the largest, c_fc's 4 C^2), not 4 Psi
  assert.equal(none.step, 4 * 4 * MODEL.nEmbd * MODEL.nEmbd);
});
