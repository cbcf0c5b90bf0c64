// `zerots estimate peak`: the predicted peak device bytes per rank (src/estimate/peak.ts) of a GPT for every stage,
// with and without activation checkpointing and offload, and the largest micro-batch that fits a capacity.
import { ConfigError } from '../errors.js';
import { largestMicroBatch, predictPeak, type GptDims, type PeakInput } from '../estimate/peak.js';
import { RESERVED_BYTES } from '../tensor/device.js';

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
