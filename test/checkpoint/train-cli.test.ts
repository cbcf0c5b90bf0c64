// `zerots train --save-dir D --save-every N`, then `--resume`: steps count from the start of the run, the resumed run
// ends on the uninterrupted run's loss bit for bit at the same world size and within 1e-4 at world size 3 with the
// same train_batch_size, and says what it restored; `--init-from` a consolidated file starts from its weights (engine
// and bit-level checks of weights in: weights.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { train } from '../../src/cli/train.js';
import { consolidateCheckpoint } from '../../src/checkpoint/consolidate.js';
import { tempDir } from '../helpers/checkpoint.js';

const model = { blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32 };

test('train --save-every then --resume: bit-identical at N = 2, within 1e-4 at N = 3; --init-from', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'ds.json');
  writeFileSync(
    config,
    JSON.stringify({
      train_batch_size: 12,
      train_micro_batch_size_per_gpu: 2,
      gradient_clipping: 1.0,
      optimizer: { type: 'AdamW', params: { lr: 1e-2, betas: [0.9, 0.95], weight_decay: 0.1 } },
      scheduler: { type: 'WarmupCosineLR', params: { total_num_steps: 6, warmup_num_steps: 1 } },
      zero_optimization: { stage: 2 },
    }),
  );
  const run = async (o: Parameters<typeof train>[0]) => {
    const lines: string[] = [];
    const r = await train({ steps: 6, model, config, evalBatches: 1, ...o, log: (l) => lines.push(l) });
    return { r, lines };
  };
  const save = join(dir, 'ckpt');
  const whole = await run({ worldSize: 2, saveDir: save, saveEvery: 3 });
  assert.ok(whole.lines.includes(`saved ${join(save, 'step-3')} at step 3`), whole.lines.join('\n'));
  assert.ok(whole.lines.includes(`saved ${join(save, 'step-6')} at step 6`));
  const again = await run({ worldSize: 2, resume: join(save, 'step-3') });
  assert.ok(
    again.lines.includes(
      `resumed from ${join(save, 'step-3')}: step 3 (36 samples); world size 2 then, 2 now; ZeRO stage 2 then, 2 now; ` +
        'fp32 then, fp32 now',
    ),
    again.lines.join('\n'),
  );
  assert.equal(again.r.perRank[0]!.losses.length, 3, 'only the steps after the checkpoint');
  assert.equal(again.r.finalLoss, whole.r.finalLoss, 'bit-identical final loss');
  const wider = await run({ worldSize: 3, resume: join(save, 'step-3') });
  assert.ok(Math.abs(wider.r.finalLoss - whole.r.finalLoss) < 1e-4, `${wider.r.finalLoss} vs ${whole.r.finalLoss}`);
  const file = join(dir, 'hf', 'model.safetensors');
  consolidateCheckpoint(save, file, { tag: 'step-3' });
  const fresh = await run({ worldSize: 1, initFrom: file });
  assert.ok(fresh.lines.some((l) => l.startsWith(`weights from ${file}`)));
  // the batch of step 1, from weights trained 3 steps: a lower loss than from the seed's weights
  assert.ok(fresh.r.initialLoss < whole.r.initialLoss - 0.1, `${fresh.r.initialLoss} vs ${whole.r.initialLoss}`);
  await assert.rejects(run({ worldSize: 2, resume: save, steps: 6 }), /is at step 6; --steps 6 counts from the start/);
});
