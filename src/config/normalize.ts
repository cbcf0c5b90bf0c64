// Before schema validation: refuse "auto" (fillAuto in auto.ts replaces it first), map DeepSpeed's accepted aliases
// to their canonical keys and values, set aside keys DeepSpeed accepts that do not change training (monitoring) or
// that DeepSpeed hands elsewhere (warned), and refuse known DeepSpeed features zerots does not implement with a
// message that says so (rather than "unknown key"). The key lists and their reasons are in keys.ts.
import { ConfigError } from '../errors.js';
import {
  BF16_KEYS,
  INERT_TOP_LEVEL,
  OTHER_DS_OPTIMIZERS,
  OTHER_DS_SCHEDULERS,
  UNSUPPORTED_TOP_LEVEL,
  WARNED_TOP_LEVEL,
  ZERO_ALIASES,
} from './keys.js';
import { didYouMean } from './suggest.js';

type Json = Record<string, unknown>;

export const OPTIMIZER_TYPES = ['Adam', 'AdamW', 'SGD'] as const;
export const SCHEDULER_TYPES = ['WarmupLR', 'WarmupDecayLR', 'WarmupCosineLR'] as const;

/** Throws for any string value "auto" (the Hugging Face Trainer's placeholder, filled in before DeepSpeed runs). */
export function refuseAuto(value: unknown, path = ''): void {
  if (value === 'auto') {
    throw new ConfigError(
      `config "${path}" = "auto": "auto" is a placeholder that the Hugging Face Trainer replaces before DeepSpeed ` +
        `reads the config. \`zerots train\` fills it from its flags and the model; through the API, pass the config ` +
        `through fillAuto() first, or replace it with a number (or true/false).`,
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
  /** Keys accepted without effect (set aside here; resolve.ts adds those the schema checks). */
  readonly ignoredKeys: string[];
  /** One line per key that DeepSpeed ignores or reads elsewhere, saying what zerots does instead. */
  readonly warnings: string[];
}

/** A deep copy of `input` with aliases resolved; the input is not modified. */
export function normalize(input: unknown): Normalized {
  if (!isObject(input)) {
    throw new ConfigError(
      input === null
        ? 'the config is null (a file whose content is `null`); it must be a JSON object such as ' +
            '{"train_micro_batch_size_per_gpu": 8}.'
        : `the config must be a JSON object, got ${Array.isArray(input) ? 'an array' : JSON.stringify(input)}.`,
      '',
    );
  }
  refuseAuto(input);
  const json = structuredClone(input) as Json;
  const ignoredKeys: string[] = [];
  const warnings: string[] = [];
  for (const k of INERT_TOP_LEVEL)
    if (k in json) {
      ignoredKeys.push(k);
      delete json[k];
    }
  for (const [k, why] of Object.entries(WARNED_TOP_LEVEL))
    if (k in json) {
      warnings.push(`config "${k}" is ignored: ${why}.`);
      delete json[k];
    }
  delete json.activation_checkpointing; // issue 9: resolved by activation-checkpointing.ts (see resolve.ts)
  delete json.aio; // resolved by aio.ts (see resolve.ts)
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
  dataTypes(json, warnings);
  if (json.communication_data_type === 'bfp16') json.communication_data_type = 'bf16'; // DeepSpeed's other spelling
  alias(json, 'bfloat16', 'bf16', '');
  if (isObject(json.bf16)) {
    for (const k of Object.keys(json.bf16)) {
      if (BF16_KEYS.includes(k)) continue;
      warnings.push(
        `config "bf16.${k}" is ignored: bf16 has no loss scaling or other fp16 settings (DeepSpeed ignores it too).`,
      );
      delete json.bf16[k];
    }
  }
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
    for (const [field, aliases] of Object.entries(ZERO_ALIASES))
      for (const a of aliases) alias(z, a, field, 'zero_optimization');
    // DeepSpeed's Optional fields: null means "the default".
    for (const k of ['offload_optimizer', 'offload_param', 'overlap_comm']) if (z[k] === null) delete z[k];
    alias(z, 'cpu_offload_params', 'cpu_offload_param', 'zero_optimization'); // the plural zerots took before
    // DeepSpeed's older booleans (still accepted there, with a deprecation warning).
    if ('cpu_offload' in z) {
      if (z.cpu_offload === true) {
        if ('offload_optimizer' in z)
          throw new ConfigError(
            'config has both "zero_optimization.cpu_offload" and "zero_optimization.offload_optimizer"; keep only offload_optimizer.',
            'zero_optimization.cpu_offload',
          );
        z.offload_optimizer = { device: 'cpu', pin_memory: z.cpu_offload_use_pin_memory === true };
      } else if (z.cpu_offload !== false && z.cpu_offload !== null) {
        throw new ConfigError(
          `config "zero_optimization.cpu_offload" = ${JSON.stringify(z.cpu_offload)} must be true or false.`,
          'zero_optimization.cpu_offload',
        );
      }
      delete z.cpu_offload;
    }
    if ('cpu_offload_param' in z) {
      if (z.cpu_offload_param === true) {
        if ('offload_param' in z)
          throw new ConfigError(
            'config has both "zero_optimization.cpu_offload_param" and "zero_optimization.offload_param"; keep only offload_param.',
            'zero_optimization.cpu_offload_param',
          );
        z.offload_param = { device: 'cpu', pin_memory: z.cpu_offload_use_pin_memory === true };
      } else if (z.cpu_offload_param !== false && z.cpu_offload_param !== null) {
        throw new ConfigError(
          `config "zero_optimization.cpu_offload_param" = ${JSON.stringify(z.cpu_offload_param)} must be true or false.`,
          'zero_optimization.cpu_offload_param',
        );
      }
      delete z.cpu_offload_param;
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
  return { json, ignoredKeys, warnings };
}

/**
 * data_types {grad_accum_dtype}: zerots accumulates gradients in the training precision (fp32 master weights are
 * updated from them), so another accumulation dtype is warned about and not applied; other keys are refused.
 */
function dataTypes(json: Json, warnings: string[]): void {
  const d = json.data_types;
  if (d === undefined) return;
  if (!isObject(d) || Object.keys(d).some((k) => k !== 'grad_accum_dtype')) {
    throw new ConfigError(
      `config "data_types" = ${JSON.stringify(d)}: zerots knows only {"grad_accum_dtype": ...}; remove the other keys.`,
      'data_types',
    );
  }
  if (d.grad_accum_dtype !== undefined && d.grad_accum_dtype !== null)
    warnings.push(
      `config "data_types.grad_accum_dtype" = ${JSON.stringify(d.grad_accum_dtype)} is ignored: zerots accumulates ` +
        'gradients in the training precision.',
    );
  delete json.data_types;
}
