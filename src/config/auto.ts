// fillAuto: the training program's values fill what a DeepSpeed config leaves open, the way the Hugging Face Trainer
// fills its "auto" placeholders before DeepSpeed reads the config (../shared/reference/zero.md): batch sizes and
// accumulation, clipping, AdamW's lr/betas/eps/weight decay, the warmup schedule's min/max lr and step counts,
// fp16/bf16 from the precision, and the bucket sizes from the model's hidden size h (reduce_bucket_size h^2,
// prefetch 0.9 h^2 rounded down, persistence threshold 10 h). A config without an optimizer gets AdamW with the
// program's hyperparameters (the Trainer and Megatron build one in code), one without any batch size the program's
// micro-batch. A pure function: values in, a new config and the list of what was filled out; every filled value is
// listed once, so the caller can print them once. A placeholder nothing here can fill is a ConfigError naming it.
import { ConfigError } from '../errors.js';
import { describeModelSized, HIDDEN_SIZE_FROM } from './model-sized.js';

type Json = Record<string, unknown>;

/** What the training program knows (the Trainer's TrainingArguments and the model, in zerots' terms). */
export interface AutoValues {
  worldSize: number;
  /** per-rank micro-batch (train_micro_batch_size_per_gpu) */
  microBatch: number;
  gradientAccumulation: number;
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  /** max gradient norm; 0 = no clipping */
  gradClip: number;
  warmupSteps: number;
  /** optimizer steps of the run (the schedule's total_num_steps) */
  totalSteps: number;
  precision: 'fp32' | 'bf16' | 'fp16';
  /** the model's hidden size (GPT: n_embd); needed only when a bucket size is "auto" */
  hiddenSize?: number;
}

export interface FilledValue {
  /** key path, e.g. "optimizer.params.lr" */
  readonly path: string;
  readonly value: unknown;
  /** where the value came from, e.g. "--lr" or "hidden size 768: h^2" */
  readonly from: string;
}

export interface Completed {
  /** A deep copy of the input with every placeholder filled. */
  readonly config: Json;
  readonly filled: readonly FilledValue[];
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Fills "auto" values (and a missing optimizer or batch size) from `v`; see the file header. */
export function fillAuto(input: unknown, v: AutoValues): Completed {
  if (!isObject(input)) {
    throw new ConfigError(
      input === null
        ? 'the config is null (a file whose content is `null`); it must be a JSON object.'
        : `the config must be a JSON object, got ${Array.isArray(input) ? 'an array' : JSON.stringify(input)}.`,
      '',
    );
  }
  const config = structuredClone(input) as Json;
  const filled: FilledValue[] = [];
  const fill = (obj: unknown, key: string, path: string, value: unknown, from: string) => {
    if (isObject(obj) && obj[key] === 'auto') {
      obj[key] = value;
      filled.push({ path, value, from });
    }
  };
  const num = (x: unknown, fallback: number) => (typeof x === 'number' ? x : fallback);
  // the batch triple: micro and accumulation first, so train_batch_size agrees with what the config says
  fill(config, 'train_micro_batch_size_per_gpu', 'train_micro_batch_size_per_gpu', v.microBatch, 'the micro-batch');
  fill(config, 'gradient_accumulation_steps', 'gradient_accumulation_steps', v.gradientAccumulation, 'accumulation');
  const micro = num(config.train_micro_batch_size_per_gpu, v.microBatch);
  const gas = num(config.gradient_accumulation_steps, v.gradientAccumulation);
  fill(config, 'train_batch_size', 'train_batch_size', micro * gas * v.worldSize, `${micro} x ${gas} x world size`);
  if (!['train_batch_size', 'train_micro_batch_size_per_gpu'].some((k) => k in config)) {
    config.train_micro_batch_size_per_gpu = v.microBatch;
    filled.push({
      path: 'train_micro_batch_size_per_gpu',
      value: v.microBatch,
      from: 'the micro-batch (no batch size)',
    });
  }
  fill(config, 'gradient_clipping', 'gradient_clipping', v.gradClip, 'the max gradient norm');

  if (!('optimizer' in config)) {
    const params = { lr: v.lr, betas: [...v.betas], eps: v.eps, weight_decay: v.weightDecay };
    config.optimizer = { type: 'AdamW', params };
    filled.push({ path: 'optimizer', value: config.optimizer, from: 'no optimizer in the config: AdamW' });
  }
  const opt = isObject(config.optimizer) && isObject(config.optimizer.params) ? config.optimizer.params : undefined;
  fill(opt, 'lr', 'optimizer.params.lr', v.lr, '--lr');
  fill(opt, 'betas', 'optimizer.params.betas', [...v.betas], 'AdamW betas');
  fill(opt, 'eps', 'optimizer.params.eps', v.eps, 'AdamW eps');
  fill(opt, 'weight_decay', 'optimizer.params.weight_decay', v.weightDecay, 'weight decay');
  const lr = num(opt?.lr, v.lr);

  const sch = isObject(config.scheduler) && isObject(config.scheduler.params) ? config.scheduler.params : undefined;
  fill(sch, 'warmup_min_lr', 'scheduler.params.warmup_min_lr', 0, 'the Trainer fills 0');
  fill(sch, 'warmup_max_lr', 'scheduler.params.warmup_max_lr', lr, 'the optimizer lr');
  fill(sch, 'warmup_num_steps', 'scheduler.params.warmup_num_steps', v.warmupSteps, 'warmup steps');
  fill(sch, 'total_num_steps', 'scheduler.params.total_num_steps', v.totalSteps, '--steps');

  for (const [block, on] of [
    ['fp16', v.precision === 'fp16'],
    ['bf16', v.precision === 'bf16'],
    ['bfloat16', v.precision === 'bf16'],
    ['amp', false],
  ] as const) {
    fill(config[block], 'enabled', `${block}.enabled`, on, `precision ${v.precision}`);
  }

  const z = isObject(config.zero_optimization) ? config.zero_optimization : undefined;
  if (z !== undefined) {
    const hKeys = [
      ['reduce_bucket_size', (h: number) => h * h, 'h^2'],
      ['stage3_prefetch_bucket_size', (h: number) => Math.floor(0.9 * h * h), '0.9 h^2'],
      ['prefetch_bucket_size', (h: number) => Math.floor(0.9 * h * h), '0.9 h^2'],
      ['stage3_param_persistence_threshold', (h: number) => 10 * h, '10 h'],
      ['param_persistence_threshold', (h: number) => 10 * h, '10 h'],
    ] as const;
    for (const [key, f, rule] of hKeys) {
      if (z[key] !== 'auto') continue;
      const h = v.hiddenSize;
      if (h === undefined || !(h >= 1)) {
        throw new ConfigError(
          `config "zero_optimization.${key}" = "auto" needs the model's hidden size, which was not given; write a ` +
            'number of elements instead.',
          `zero_optimization.${key}`,
        );
      }
      fill(z, key, `zero_optimization.${key}`, f(h), `${HIDDEN_SIZE_FROM}${h}: ${rule}`);
    }
    for (const key of ['stage3_gather_16bit_weights_on_model_save', 'gather_16bit_weights_on_model_save'])
      fill(z, key, `zero_optimization.${key}`, false, "Accelerate's default");
  }
  refuseLeftover(config, '');
  return { config, filled };
}

function refuseLeftover(value: unknown, path: string): void {
  if (value === 'auto') {
    throw new ConfigError(
      `config "${path}" = "auto": neither the Hugging Face Trainer nor zerots has a value to fill it with; write ` +
        'the value.',
      path,
    );
  }
  if (Array.isArray(value)) value.forEach((x, i) => refuseLeftover(x, `${path}[${i}]`));
  else if (isObject(value))
    for (const [k, x] of Object.entries(value)) refuseLeftover(x, path === '' ? k : `${path}.${k}`);
}

/** One line per filled value, for printing once at the start of a run. */
export function describeFilled(filled: readonly FilledValue[]): string[] {
  const rest = filled.filter((f) => !f.from.startsWith(HIDDEN_SIZE_FROM));
  return [
    ...rest.map((f) => `config: ${f.path} = ${JSON.stringify(f.value)} (${f.from})`),
    ...describeModelSized(filled),
  ];
}
