// `zerots estimate peak`: the predicted peak device bytes per rank (src/estimate/peak.ts) of a GPT for every stage,
// with and without activation checkpointing and offload, and the largest micro-batch that fits a capacity.
import { ConfigError } from '../errors.js';
import { largestMicroBatch, predictPeak, type GptDims, type PeakInput } from '../estimate/peak.js';
import { RESERVED_BYTES } from '../tensor/device.js';
import { formatTable } from './tables.js';

export interface EstimatePeakOptions {
  model: GptDims;
  micro: number;
  worldSize: number;
  precision: 'fp32' | 'bf16' | 'fp16';
  capacityMiB?: number;
  /** reduce_bucket_size, stage3_prefetch_bucket_size, stage3_param_persistence_threshold, stage3_max_reuse_distance */
  /** default 'model' (h^2, 0.9 h^2, 10 h: what the engine uses when the config leaves them unset) */
  buckets?: 'deepspeed' | 'model';
  print?: (line: string) => void;
}

export function estimatePeak(o: EstimatePeakOptions): Record<string, unknown>[] {
  const print = o.print ?? ((l: string) => console.log(l));
  if (o.model.nEmbd % o.model.nHead !== 0)
    throw new ConfigError(`estimate peak: --heads ${o.model.nHead} must divide --embd ${o.model.nEmbd}`, 'heads');
  const h = o.model.nEmbd;
  // the engine sizes unset buckets from the hidden size (src/config/model-sized.ts); 'deepspeed': DeepSpeed's defaults
  const sizes =
    o.buckets === 'deepspeed'
      ? { reduceBucketSize: 5e8, prefetchBucketSize: 5e7, persistenceThreshold: 1e5 }
      : { reduceBucketSize: h * h, prefetchBucketSize: Math.floor(0.9 * h * h), persistenceThreshold: 10 * h };
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const m = o.model;
  print(
    `predicted peak per rank: GPT ${m.nLayer} x ${m.nEmbd} (${m.nHead} heads, vocab ${m.vocabSize}, context ` +
      `${m.blockSize}), micro-batch ${o.micro}, ${o.worldSize} ranks, ${o.precision}` +
      (o.capacityMiB === undefined ? '' : `; largest micro-batch within ${o.capacityMiB} MiB`),
  );
  const rows: Record<string, unknown>[] = [];
  for (const stage of [0, 1, 2, 3] as const)
    for (const offload of stage === 0 ? [false] : [false, true])
      for (const checkpointing of [false, true]) {
        const x: PeakInput = {
          model: m,
          micro: o.micro,
          worldSize: o.worldSize,
          stage,
          precision: o.precision,
          checkpointing,
          cpuCheckpointing: checkpointing && offload,
          offloadOptimizer: offload,
          offloadParam: offload,
          ...sizes,
        };
        const p = predictPeak(x);
        const best =
          o.capacityMiB === undefined ? null : largestMicroBatch(x, o.capacityMiB * 2 ** 20 - RESERVED_BYTES);
        print(
          `stage ${stage} ${offload ? 'offload' : '       '} ${checkpointing ? 'ckpt' : '    '}  device ${mib(p.total)}` +
            ` (states ${mib(p.modelStates.param + p.modelStates.grad + p.modelStates.optimizer)}, activations ` +
            `${mib(p.activations)}, gathered ${mib(p.gathered)}, buckets ${mib(p.buckets)}, workspace ` +
            `${mib(p.workspace + p.fixed)}, step ${mib(p.step)})  host ${mib(p.host)}` +
            (best === null ? '' : `  largest micro-batch ${best}`),
        );
        rows.push({
          stage,
          offload,
          checkpointing,
          device_bytes: p.total,
          host_bytes: p.host,
          largest_micro_batch: best,
        });
      }
  return rows;
}

/** A GPT's shape for the per-rank peak: dimensions, micro-batch per rank and precision. */
export interface PeakShape {
  model: GptDims;
  micro: number;
  precision: 'fp32' | 'bf16' | 'fp16';
  /** True when the shape was derived from --params (not given). */
  assumed?: boolean;
}

export interface PeakRow {
  stage: 0 | 1 | 2 | 3;
  offload: boolean;
  checkpointing: boolean;
  /** predicted peak device bytes per rank, activations included; and its parts */
  device_bytes: number;
  model_states_bytes: number;
  activation_bytes: number;
  transient_bytes: number;
  host_bytes: number;
}

/**
 * The shape of a GPT-2-like model of `params` parameters when only the count is given: width 128 x depth (GPT-3's
 * 175B has d / L = 128), heads of 128, GPT-2's vocabulary, context 2048; `layers` fixes the depth instead.
 */
export function shapeFromParams(params: number, layers?: number): GptDims {
  const L = layers ?? Math.max(1, Math.round(Math.cbrt(params / (12 * 128 * 128))));
  const d = Math.max(128, Math.round(Math.sqrt(params / (12 * L)) / 128) * 128);
  return { vocabSize: 50257, blockSize: 2048, nLayer: L, nHead: d / 128, nEmbd: d };
}

/**
 * Every stage and offload variant (with and without activation checkpointing): the predicted peak device bytes per
 * rank with activations and the transient buffers (src/estimate/peak.ts), and the host bytes. Bucket sizes as
 * Hugging Face's "auto" sizes them from the hidden size h (h^2, 0.9 h^2, 10 h), DeepSpeed's stage3_max_reuse_distance.
 */
export function peakRows(shape: PeakShape, worldSize: number): PeakRow[] {
  const h = shape.model.nEmbd;
  const rows: PeakRow[] = [];
  for (const stage of [0, 1, 2, 3] as const)
    for (const offload of stage === 0 ? [false] : [false, true])
      for (const checkpointing of [false, true]) {
        const p = predictPeak({
          model: shape.model,
          micro: shape.micro,
          worldSize,
          stage,
          precision: shape.precision,
          checkpointing,
          cpuCheckpointing: checkpointing && offload,
          offloadOptimizer: offload,
          offloadParam: offload,
          offloadThreads: 1,
          reduceBucketSize: h * h,
          prefetchBucketSize: Math.floor(0.9 * h * h),
          persistenceThreshold: 10 * h,
        });
        const states = p.modelStates.param + p.modelStates.grad + p.modelStates.optimizer;
        rows.push({
          stage,
          offload,
          checkpointing,
          device_bytes: p.total,
          model_states_bytes: states,
          activation_bytes: p.activations,
          transient_bytes: p.total - states - p.activations,
          host_bytes: p.host,
        });
      }
  return rows;
}

/** The peak section of `zerots estimate`. */
export function printPeakRows(shape: PeakShape, worldSize: number, rows: PeakRow[], print: (l: string) => void): void {
  const m = shape.model;
  const gb = (b: number) => (b / 1e9).toFixed(b >= 1e10 ? 1 : b >= 1e8 ? 2 : 4);
  print('');
  print(
    `Peak per rank with activations (src/estimate/peak.ts): GPT ${m.nLayer} layers x d ${m.nEmbd} (${m.nHead} heads, ` +
      `vocabulary ${m.vocabSize}, context ${m.blockSize}${shape.assumed ? '; shape assumed from --params' : ''}), ` +
      `micro-batch ${shape.micro} per rank, ${shape.precision}, ${worldSize} ranks; GB = 1e9 bytes`,
  );
  print(
    formatTable(
      [
        'stage',
        'offload',
        'checkpointing',
        'device GB',
        'model states',
        'activations',
        'buffers + workspace',
        'host GB',
      ],
      rows.map((r) => [
        String(r.stage),
        r.offload ? 'cpu' : '-',
        r.checkpointing ? 'yes' : '-',
        gb(r.device_bytes),
        gb(r.model_states_bytes),
        gb(r.activation_bytes),
        gb(r.transient_bytes),
        gb(r.host_bytes),
      ]),
    ),
  );
}
