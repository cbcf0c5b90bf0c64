// DeepSpeed's `activation_checkpointing` block (issue 9). Which blocks are checkpointed is the model's choice, as in
// DeepSpeed (there the model code calls deepspeed.checkpointing.checkpoint; here `GPT.setCheckpointing` or a
// Block's `checkpointing`); this block says how. What applies to a data-parallel engine on one device per rank is
// implemented; the rest is accepted with a warning that says why it has no effect.
import { ConfigError } from '../errors.js';
import { didYouMean } from './suggest.js';

export interface ActivationCheckpointingConfig {
  /** The block was present in the config. */
  readonly present: boolean;
  /** cpu_checkpointing: checkpointed inputs live in host memory between forward and backward. */
  readonly cpuCheckpointing: boolean;
  /** number_checkpoints (null when unset): accepted, see warnings. */
  readonly numberCheckpoints: number | null;
  /** One line per key that is accepted but has no effect here. */
  readonly warnings: readonly string[];
}

const KEYS = [
  'partition_activations',
  'cpu_checkpointing',
  'number_checkpoints',
  'contiguous_memory_optimization',
  'synchronize_checkpoint_boundary',
  'profile',
] as const;

const WHY: Record<string, string> = {
  partition_activations: [
    'it splits each checkpoint across model-parallel ranks; zerots has data parallelism only,',
    "so a rank's checkpoints are its own (nothing to split)",
  ].join(' '),
  contiguous_memory_optimization: [
    "it copies DeepSpeed's partitioned checkpoints into one buffer against fragmentation; zerots keeps each",
    "checkpoint as one allocation of the device's allocator, and has no partitioned checkpoints",
  ].join(' '),
  synchronize_checkpoint_boundary:
    'it synchronizes CUDA streams at checkpoint boundaries; zerots kernels and collectives are synchronous already',
  profile: 'zerots has no per-checkpoint timers; `zerots bench train` and `zerots bench memory` measure the cost',
};

export function resolveActivationCheckpointing(raw: unknown): ActivationCheckpointingConfig {
  if (raw === undefined) return { present: false, cpuCheckpointing: false, numberCheckpoints: null, warnings: [] };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(
      `config "activation_checkpointing" = ${JSON.stringify(raw)} must be an object (keys: ${KEYS.join(', ')}).`,
      'activation_checkpointing',
    );
  const o = raw as Record<string, unknown>;
  const warnings: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    const path = `activation_checkpointing.${k}`;
    if (!(KEYS as readonly string[]).includes(k))
      throw new ConfigError(
        `config "${path}" is not a DeepSpeed activation_checkpointing key; allowed: ${KEYS.join(', ')}.${didYouMean(k, KEYS)}`,
        path,
      );
    if (k === 'number_checkpoints') {
      if (v !== null && !(Number.isSafeInteger(v) && (v as number) > 0))
        throw new ConfigError(`config "${path}" = ${JSON.stringify(v)} must be a positive integer or null.`, path);
      if (v !== null)
        warnings.push(
          `"${path}" has no effect: it sizes DeepSpeed's contiguous checkpoint buffer; ` +
            'choose the checkpointed blocks with GPT.setCheckpointing',
        );
      continue;
    }
    if (typeof v !== 'boolean')
      throw new ConfigError(`config "${path}" = ${JSON.stringify(v)} must be true or false.`, path);
    if (v && k in WHY) warnings.push(`"${path}" = true has no effect: ${WHY[k]}`);
  }
  return {
    present: true,
    cpuCheckpointing: o.cpu_checkpointing === true,
    numberCheckpoints: (o.number_checkpoints as number | null | undefined) ?? null,
    warnings,
  };
}

/** What the engine's tape is built with (issue 9): 16-bit saved activations under bf16/fp16, and where checkpoints live. */
export function tapeOptionsFor(
  precision: 'fp32' | 'bf16' | 'fp16',
  ac: ActivationCheckpointingConfig,
): { activationDType: 'f32' | 'bf16' | 'f16'; cpuCheckpointing: boolean } {
  return {
    activationDType: precision === 'fp32' ? 'f32' : precision === 'bf16' ? 'bf16' : 'f16',
    cpuCheckpointing: ac.cpuCheckpointing,
  };
}
