// Before schema validation: refuse "auto", map DeepSpeed's accepted aliases to their canonical keys and values, set
// aside keys DeepSpeed accepts that do not change training (monitoring), and refuse known DeepSpeed features zerots
// does not implement with a message that says so (rather than "unknown key").
import { ConfigError } from '../errors.js';
import { didYouMean } from './suggest.js';

type Json = Record<string, unknown>;

export const OPTIMIZER_TYPES = ['Adam', 'AdamW', 'SGD'] as const;
export const SCHEDULER_TYPES = ['WarmupLR', 'WarmupDecayLR', 'WarmupCosineLR'] as const;
/** DeepSpeed optimizers zerots does not implement (lower case, as DeepSpeed compares them). */
const OTHER_DS_OPTIMIZERS = [
  'lamb',
  'onebitadam',
  'onebitlamb',
  'zerooneadam',
  'adagrad',
  'muadam',
  'muadamw',
  'musgd',
  'lion',
  'adam_w',
];
const OTHER_DS_SCHEDULERS = ['LRRangeTest', 'OneCycle'];

/** Top-level DeepSpeed keys accepted and ignored: they configure monitoring or tooling, not the training math. */
const IGNORED_TOP_LEVEL = [
  'tensorboard',
  'wandb',
  'csv_monitor',
  'comet',
  'flops_profiler',
  'comms_logger',
  'memory_breakdown',
  'dump_state',
  'zero_allow_untested_optimizer',
  'zero_force_ds_cpu_optimizer',
  'aio',
  'checkpoint',
  'activation_checkpointing',
  'timers',
  'autotuning',
];
/** Top-level DeepSpeed features zerots lacks: refused unless present and disabled. */
const UNSUPPORTED_TOP_LEVEL = [
  'amp',
  'sparse_attention',
  'pipeline',
  'compression_training',
  'elasticity',
  'curriculum_learning',
  'data_efficiency',
  'quantize_training',
  'nebula',
  'hybrid_engine',
  'torch_autocast',
  'sparse_gradients',
  'communication_data_type',
  'data_types',
  'eigenvalue',
  'progressive_layer_drop',
];

/** Throws for any string value "auto" (the Hugging Face Trainer's placeholder, filled in before DeepSpeed runs). */
export function refuseAuto(value: unknown, path = ''): void {
  if (value === 'auto') {
    throw new ConfigError(
      `config "${path}" = "auto": "auto" is a placeholder that the Hugging Face Trainer replaces before DeepSpeed ` +
        `reads the config; zerots needs the concrete value. Replace it with a number (or true/false), or delete the key ` +
        `to take the default.`,
      path,
    );
  }
  if (Array.isArray(value)) value.forEach((v, i) => refuseAuto(v, `${path}[${i}]`));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) refuseAuto(v, path === '' ? k : `${path}.${k}`);
  }
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function enabled(v: unknown): boolean {
  if (isObject(v)) return v.enabled !== false && !(Object.keys(v).length === 0);
  return v !== false && v !== null && v !== undefined;
}

/** Moves `from` to `to` in `obj` (an alias); both present is an error. */
function alias(obj: Json, from: string, to: string, base: string): void {
  if (!(from in obj)) return;
  const where = base === '' ? '' : `${base}.`;
  if (to in obj) {
    throw new ConfigError(
      `config has both "${where}${from}" and "${where}${to}" (the same setting); keep only "${where}${to}".`,
      `${where}${from}`,
    );
  }
  obj[to] = obj[from];
  delete obj[from];
}

function canonicalType(
  value: unknown,
  allowed: readonly string[],
  others: readonly string[],
  path: string,
  what: string,
): unknown {
  if (typeof value !== 'string') return value; // the schema reports the type error
  const hit = allowed.find((t) => t.toLowerCase() === value.toLowerCase());
  if (hit !== undefined) return hit;
  const known = others.some((t) => t.toLowerCase() === value.toLowerCase());
  throw new ConfigError(
    `config "${path}" = ${JSON.stringify(value)}: ${known ? `a DeepSpeed ${what} that zerots does not implement` : `unknown ${what}`}; ` +
      `allowed (case-insensitive): ${allowed.join(', ')}.${known ? '' : didYouMean(value, allowed)}`,
    path,
  );
}

export interface Normalized {
  readonly json: Json;
  readonly ignoredKeys: string[];
}

/** A deep copy of `input` with aliases resolved; the input is not modified. */
export function normalize(input: unknown): Normalized {
  if (!isObject(input)) {
    throw new ConfigError(
      `the config must be a JSON object, got ${Array.isArray(input) ? 'an array' : JSON.stringify(input)}.`,
      '',
    );
  }
  refuseAuto(input);
  const json = structuredClone(input) as Json;
  const ignoredKeys: string[] = [];
  for (const k of IGNORED_TOP_LEVEL)
    if (k in json) {
      ignoredKeys.push(k);
      delete json[k];
    }
  for (const k of UNSUPPORTED_TOP_LEVEL) {
    if (!(k in json)) continue;
    if (enabled(json[k])) {
      throw new ConfigError(
        `config "${k}" is a DeepSpeed feature that zerots does not implement; remove it (or disable it).`,
        k,
      );
    }
    ignoredKeys.push(k);
    delete json[k];
  }
  alias(json, 'bfloat16', 'bf16', '');
  if (isObject(json.optimizer)) {
    json.optimizer.type = canonicalType(
      json.optimizer.type,
      OPTIMIZER_TYPES,
      OTHER_DS_OPTIMIZERS,
      'optimizer.type',
      'optimizer',
    );
  }
  if (isObject(json.scheduler)) {
    json.scheduler.type = canonicalType(
      json.scheduler.type,
      SCHEDULER_TYPES,
      OTHER_DS_SCHEDULERS,
      'scheduler.type',
      'scheduler',
    );
  }
  const z = json.zero_optimization;
  if (isObject(z)) {
    alias(
      z,
      'stage3_gather_fp16_weights_on_model_save',
      'stage3_gather_16bit_weights_on_model_save',
      'zero_optimization',
    );
    // DeepSpeed's older booleans (still accepted there, with a deprecation warning).
    if ('cpu_offload' in z) {
      if (z.cpu_offload === true) {
        if ('offload_optimizer' in z)
          throw new ConfigError(
            'config has both "zero_optimization.cpu_offload" and "zero_optimization.offload_optimizer"; keep only offload_optimizer.',
            'zero_optimization.cpu_offload',
          );
        z.offload_optimizer = { device: 'cpu', pin_memory: z.cpu_offload_use_pin_memory === true };
      } else if (z.cpu_offload !== false) {
        throw new ConfigError(
          `config "zero_optimization.cpu_offload" = ${JSON.stringify(z.cpu_offload)} must be true or false.`,
          'zero_optimization.cpu_offload',
        );
      }
      delete z.cpu_offload;
    }
    if ('cpu_offload_params' in z) {
      if (z.cpu_offload_params === true) {
        if ('offload_param' in z)
          throw new ConfigError(
            'config has both "zero_optimization.cpu_offload_params" and "zero_optimization.offload_param"; keep only offload_param.',
            'zero_optimization.cpu_offload_params',
          );
        z.offload_param = { device: 'cpu', pin_memory: z.cpu_offload_use_pin_memory === true };
      } else if (z.cpu_offload_params !== false) {
        throw new ConfigError(
          `config "zero_optimization.cpu_offload_params" = ${JSON.stringify(z.cpu_offload_params)} must be true or false.`,
          'zero_optimization.cpu_offload_params',
        );
      }
      delete z.cpu_offload_params;
    }
    delete z.cpu_offload_use_pin_memory;
  } else if (typeof z === 'boolean') {
    throw new ConfigError(
      'config "zero_optimization" = ' +
        String(z) +
        ' is DeepSpeed\'s retired boolean form; write {"stage": 1} (or 0, 2, 3).',
      'zero_optimization',
    );
  }
  return { json, ignoredKeys };
}
