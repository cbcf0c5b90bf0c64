// `zerots estimate`'s step-time section (src/estimate/step-time.ts): for every stage and offload variant, the time
// of one step on the given hardware, its communication share, and whether the model states fit the device.
import { ConfigError } from '../errors.js';
import { modelStatesBytes, type Stage } from '../estimate/index.js';
import { type Hardware, stepTime } from '../estimate/step-time.js';
import { formatTable } from './tables.js';

/** GPT-2 sizes (Radford et al. 2019; Hugging Face's configs): layers, width, vocabulary, context. */
export const GPT2_MODELS: Record<
  string,
  { nLayer: number; nEmbd: number; nHead: number; vocabSize: number; blockSize: number }
> = {
  gpt2: { nLayer: 12, nEmbd: 768, nHead: 12, vocabSize: 50257, blockSize: 1024 },
  'gpt2-medium': { nLayer: 24, nEmbd: 1024, nHead: 16, vocabSize: 50257, blockSize: 1024 },
  'gpt2-large': { nLayer: 36, nEmbd: 1280, nHead: 20, vocabSize: 50257, blockSize: 1024 },
  'gpt2-xl': { nLayer: 48, nEmbd: 1600, nHead: 25, vocabSize: 50257, blockSize: 1024 },
};

/** Parameters of a GPT-2-shaped model (tied embedding): 12 L d^2 + 13 L d + (V + T) d + 2 d. */
export function gptParamCount(m: { nLayer: number; nEmbd: number; vocabSize: number; blockSize: number }): number {
  const d = m.nEmbd;
  return 12 * m.nLayer * d * d + 13 * m.nLayer * d + (m.vocabSize + m.blockSize) * d + 2 * d;
}

export function modelByName(name: string) {
  const m = GPT2_MODELS[name];
  if (m === undefined)
    throw new ConfigError(
      `estimate: unknown --model '${name}'; allowed: ${Object.keys(GPT2_MODELS).join(', ')} (or give --params)`,
      'model',
    );
  return m;
}

export interface StepEstimateOptions {
  params: number;
  worldSize: number;
  layers: number;
  tokensPerRank: number;
  hw: Hardware;
  /** Device capacity per rank in bytes (for "fits"). */
  deviceBytes?: number;
  /** The predicted peak per rank with activations (estimate-peak.ts); without it "fits" counts model states only. */
  devicePeak?: (stage: Stage, offload: boolean) => number;
}

export interface StepEstimateRow {
  stage: Stage;
  offload: boolean;
  step_s: number;
  overlapped_s: number;
  compute_s: number;
  comm_s: number;
  comm_share: number;
  offload_s: number;
  device_states_bytes: number;
  /** the predicted peak with activations (null: the shape is unknown) */
  device_peak_bytes: number | null;
  fits: boolean | null;
}

export function stepEstimateRows(o: StepEstimateOptions): StepEstimateRow[] {
  const rows: StepEstimateRow[] = [];
  for (const stage of [0, 1, 2, 3] as const)
    for (const offload of stage === 0 ? [false] : [false, true]) {
      const t = stepTime({
        params: o.params,
        worldSize: o.worldSize,
        stage,
        tokensPerRank: o.tokensPerRank,
        layers: o.layers,
        offload,
        hw: o.hw,
      });
      const s = modelStatesBytes(o.params, o.worldSize, stage, 'mixed');
      // offload keeps the optimizer state on the host (and in stage 3 the parameter shards too)
      const device = offload ? s.total - s.optimizer - (stage === 3 ? s.param : 0) : s.total;
      const peak = o.devicePeak?.(stage, offload) ?? null;
      rows.push({
        stage,
        offload,
        step_s: t.stepSeconds,
        overlapped_s: t.overlappedSeconds,
        compute_s: t.computeSeconds,
        comm_s: t.commSeconds,
        comm_share: t.commShare,
        offload_s: t.offloadSeconds,
        device_states_bytes: device,
        device_peak_bytes: peak,
        fits: o.deviceBytes === undefined ? null : (peak ?? device) <= o.deviceBytes,
      });
    }
  return rows;
}

export function printStepEstimate(o: StepEstimateOptions, rows: StepEstimateRow[], print: (l: string) => void): void {
  const sec = (x: number) =>
    x >= 100 ? `${x.toFixed(0)} s` : x >= 1 ? `${x.toFixed(2)} s` : `${(x * 1000).toFixed(1)} ms`;
  print('');
  print(
    `Step time: ${o.tokensPerRank} tokens per rank per step, ${(o.hw.flops / 1e12).toFixed(0)} TFLOP/s at ` +
      `${((o.hw.utilization ?? 0.4) * 100).toFixed(0)}% utilization, link ${(o.hw.linkBytesPerSecond / 1e9).toFixed(1)} GB/s ` +
      `per rank, ${(o.hw.latencySeconds * 1e6).toFixed(1)} us per hop ([Note: the step-time model] in src/estimate/step-time.ts)`,
  );
  print(
    formatTable(
      [
        'stage',
        'offload',
        'step',
        'overlapped',
        'compute',
        'comm',
        'comm share',
        'offload',
        'device states GB',
        'device peak GB',
        'fits',
      ],
      rows.map((r) => [
        String(r.stage),
        r.offload ? 'cpu' : '-',
        sec(r.step_s),
        sec(r.overlapped_s),
        sec(r.compute_s),
        sec(r.comm_s),
        `${(r.comm_share * 100).toFixed(0)}%`,
        sec(r.offload_s),
        (r.device_states_bytes / 1e9).toFixed(2),
        r.device_peak_bytes === null ? '-' : (r.device_peak_bytes / 1e9).toFixed(2),
        r.fits === null ? '-' : r.fits ? 'yes' : 'no',
      ]),
    ),
  );
  const gb = o.deviceBytes === undefined ? null : o.deviceBytes / 1e9;
  print(
    rows[0]!.device_peak_bytes === null
      ? 'device states: model states on the device only; activations are not counted (give the shape: --model, or ' +
          '--layers/--embd/--heads).'
      : 'device peak: model states, activations, buffers and workspaces (the peak section above; with activation ' +
          'checkpointing where that is smaller).',
  );
  if (gb !== null) {
    const fit = rows.filter((r) => r.fits).map((r) => `stage ${r.stage}${r.offload ? ' + offload' : ''}`);
    print(`Fits ${gb} GB per rank: ${fit.length === 0 ? 'none' : fit.join(', ')}.`);
  }
}
