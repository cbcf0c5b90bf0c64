// The experiment as text: the results table, Part 2, the equal-batch check, the seed's published figures beside
// ours, and the one JSON object `npm start` ends with.
import { formatTable } from '../cli/tables.js';
import type { ExperimentOptions, ExperimentResult } from '../train/experiments.js';
import {
  describeSetup,
  equalBatchLossSpread,
  type MethodRow,
  methodCells,
  methodRows,
  mispredicted,
  orderHolds,
} from './rows.js';

const MiB = 2 ** 20;
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');

/** The seed's experiment as published (Hugging Face blog, 2 x 24 GB GPUs), the figures the issue cites. */
export const SEED_TABLE: readonly string[] = [
  'The seed experiment as published (Hugging Face, "Accelerate Large Model Training using DeepSpeed"; 2 x 24 GB GPUs):',
  formatTable(
    ['model', 'method', 'largest batch per GPU', 'speed'],
    [
      ['DeBERTa-v2 XL (900M)', 'DDP', '8', '1x (time per epoch)'],
      ['DeBERTa-v2 XL (900M)', 'ZeRO-2', '40', '~3.5x faster epoch'],
      ['GPT-2 XL (1.5B)', 'DDP', 'out of memory at 1', '-'],
      ['GPT-2 XL (1.5B)', 'ZeRO-3 + CPU offload', '16', 'trains'],
    ],
  ),
  'What differs: theirs ran GPUs with 24 GB each and models of ~1B parameters whose DDP baseline kept fp32 model ' +
    'states (16+ bytes per parameter with Adam); ours runs 2 CPU thread ranks whose "device" is a WebAssembly memory ' +
    'of a few dozen MiB, a GPT of a few million parameters in bf16 mixed precision (DDP also 16 bytes per parameter: ' +
    '2 + 2 + 12), so the same ratios of model states to capacity appear at 1/300 of the scale, and speed is CPU-bound.',
];

export function experimentTables(res: ExperimentResult, o: ExperimentOptions): string[] {
  const rows = methodRows(res);
  const out: string[] = [];
  out.push(`Part 1: ${describeSetup(res, o)}.`);
  out.push('');
  out.push(
    formatTable(
      [
        'method',
        'max micro',
        'predicted',
        'OOM at',
        'tok/s',
        `s for ${o.tokens} tok`,
        'param',
        'grad',
        'optim',
        'activ',
        'peak MiB',
        'predicted peak',
        'comm MiB/step',
        'val loss',
      ],
      rows.map(methodCells),
    ),
  );
  out.push('');
  out.push(
    'max micro: the largest micro-batch per rank that trained (3 steps and the held-out evaluation); OOM at: the smallest that ended in ' +
      'DeviceOutOfMemoryError; predicted: the estimator (src/estimate/peak.ts) for the same capacity, model, stage, ' +
      'precision, offload and bucket sizes; predicted peak: its peak MiB at the measured micro-batch. ' +
      "param/grad/optim/activ: the largest rank's peak MiB per category at that micro-batch; peak: its whole device " +
      'peak (scratch included); val loss: held-out loss after the same tokens (micro-batches differ, so the number ' +
      'of optimizer steps and the losses differ).',
  );
  out.push(
    `Order DDP < ZeRO-1 <= ZeRO-2 <= ZeRO-3 < ZeRO-3 + offload: ${orderHolds(rows) ? 'holds' : 'does NOT hold'} ` +
      `(${rows.map((r) => `${r.label} ${r.maxMicroBatch}`).join(', ')}).`,
  );
  const wrong = mispredicted(rows);
  if (wrong.length === 0)
    out.push(`Measured largest micro-batch = predicted for every method (${rows.map((r) => r.predicted).join(', ')}).`);
  else out.push(...mispredictionLines(wrong));
  const spread = equalBatchLossSpread(res);
  if (res.equal !== null && spread !== null)
    out.push(
      `Equal global batch: every method at micro-batch ${res.equal.micro} for ${res.equal.runs[0]!.steps} steps in one ` +
        `world; the largest loss difference from DDP is ${spread === 0 ? '0 (identical bits)' : spread.toExponential(2)}: ` +
        'the methods train the same model, only the memory differs.',
    );
  const ddp = rows.find((r) => r.key === 'ddp');
  const z2 = rows.find((r) => r.key === 'zero2');
  if (ddp && z2)
    out.push(
      `ZeRO-2 against DDP: ${(z2.maxMicroBatch / ddp.maxMicroBatch).toFixed(1)}x the micro-batch, ` +
        `${(z2.tokensPerSecond / ddp.tokensPerSecond).toFixed(2)}x the tokens/s, ${(ddp.seconds / z2.seconds).toFixed(2)}x ` +
        `less time for the same tokens (the machine is shared: times are noisy, ratios less so).`,
    );
  out.push('');
  const p2 = res.part2;
  const m2 = p2.model;
  out.push(
    `Part 2: GPT ${m2.nLayer} layers x d ${m2.nEmbd} (${(p2.params / 1e6).toFixed(2)}M parameters), the same ` +
      `${res.base.deviceBytes / MiB} MiB per rank.`,
  );
  out.push(
    `  DDP at micro-batch 1: ${p2.ddpOom === null ? 'trained (no out-of-memory error)' : `DeviceOutOfMemoryError: ${p2.ddpOom}`}`,
  );
  const r2 = p2.run;
  out.push(
    `  DDP predicted largest micro-batch: ${p2.ddpPredicted} (${p2.ddpPredicted === 0 ? 'does not fit at 1' : 'fits'}).`,
  );
  out.push(
    `  ZeRO-3 + offload: largest micro-batch ${p2.offload.max} (predicted ${p2.offloadPredicted})` +
      (r2 === null
        ? ''
        : `, ${r2.tokensPerSecond.toFixed(0)} tokens/s, device peak ${(Math.max(...r2.devicePeakBytes) / MiB).toFixed(1)} MiB ` +
          `per rank, held-out loss ${r2.valLoss?.toFixed(4) ?? '-'} after ${r2.steps * r2.tokensPerStep} tokens.`),
  );
  return out;
}

/** For each mispredicted method: the predicted and measured peak by category at the measured micro-batch. */
function mispredictionLines(wrong: readonly MethodRow[]): string[] {
  const out = [`Measured largest micro-batch differs from the predicted for ${wrong.map((r) => r.label).join(', ')}:`];
  for (const r of wrong) {
    const cats = Object.keys(r.predictedPeakMiB) as (keyof MethodRow['peakMiB'])[];
    const by = cats.map((c) => `${c} ${f1(r.peakMiB[c])}/${f1(r.predictedPeakMiB[c] ?? NaN)}`).join(', ');
    out.push(
      `  ${r.label}: measured ${r.maxMicroBatch}, predicted ${r.predicted}; at ${r.maxMicroBatch} MiB measured/predicted ` +
        `${by}; peak ${f1(r.devicePeakBytes / MiB)}/${f1(r.predictedPeakBytes / MiB)}`,
    );
  }
  return out;
}

/** The last line of `npm start`, as the issue gives it. */
export function experimentsJson(res: ExperimentResult, reportPath: string): Record<string, unknown> {
  const experiments: Record<string, unknown> = {};
  for (const r of methodRows(res))
    experiments[r.key] = {
      max_micro_batch: r.maxMicroBatch,
      tokens_per_s: Math.round(r.tokensPerSecond),
      peak_bytes: r.devicePeakBytes,
      predicted_micro_batch: r.predicted,
      predicted_peak_bytes: r.predictedPeakBytes,
      seconds: Number(r.seconds.toFixed(2)),
      comm_bytes_per_step: Math.round(r.commMiBPerStep * MiB),
      val_loss: r.valLoss,
    };
  return {
    experiments,
    part2: {
      ddp_oom: res.part2.ddpOom !== null,
      ddp_predicted_micro_batch: res.part2.ddpPredicted,
      zero3_offload_micro_batch: res.part2.offload.max,
      zero3_offload_predicted_micro_batch: res.part2.offloadPredicted,
      zero3_offload_tokens_per_s: res.part2.run === null ? null : Math.round(res.part2.run.tokensPerSecond),
    },
    order_holds: orderHolds(methodRows(res)),
    predictions_hold:
      mispredicted(methodRows(res)).length === 0 &&
      res.part2.offload.max === res.part2.offloadPredicted &&
      (res.part2.ddpOom !== null) === (res.part2.ddpPredicted === 0),
    report: reportPath,
  };
}
