// The five methods of the classic experiment (Hugging Face, "Accelerate Large Model Training using DeepSpeed"):
// data parallelism (ZeRO stage 0: every rank keeps every model state), ZeRO-1, -2, -3, and ZeRO-3 with the optimizer
// state and the parameter shards offloaded to host memory. Each is the project's GPT training config
// (configs.ts) with the stage and the offload keys changed: nothing else differs between them.
import { ConfigError } from '../errors.js';
import { gptTrainingConfig, type GptConfigOptions, type StageNumber } from './configs.js';

export type MethodKey = 'ddp' | 'zero1' | 'zero2' | 'zero3' | 'zero3_offload' | 'zero3_nvme';

export interface Method {
  key: MethodKey;
  label: string;
  stage: StageNumber;
  /** offload_optimizer and offload_param "cpu" (stage 3). */
  offload: boolean;
  /** offload_optimizer "nvme" instead (swap files under the run's nvme_path), offload_param "cpu". */
  nvme?: boolean;
}

export const METHODS: readonly Method[] = [
  { key: 'ddp', label: 'DDP', stage: 0, offload: false },
  { key: 'zero1', label: 'ZeRO-1', stage: 1, offload: false },
  { key: 'zero2', label: 'ZeRO-2', stage: 2, offload: false },
  { key: 'zero3', label: 'ZeRO-3', stage: 3, offload: false },
  { key: 'zero3_offload', label: 'ZeRO-3 + offload', stage: 3, offload: true },
];

/**
 * ZeRO-3 with the optimizer state swapped to files (DeepSpeed's ZeRO-Infinity): the parameters stay in host memory
 * (offload_param "cpu": "nvme" would move them to a file and change nothing on the device, which is what the experiment
 * measures and predicts), so the device holds what it holds under CPU offload; run when the
 * experiment has a writable folder for the swap files.
 */
export const NVME_METHOD: Method = { key: 'zero3_nvme', label: 'ZeRO-3 + NVMe', stage: 3, offload: true, nvme: true };

/** The method's DeepSpeed JSON: gptTrainingConfig at its stage, plus CPU offload of optimizer and parameters. */
export function methodConfig(
  m: Method,
  o: Omit<GptConfigOptions, 'stage'>,
  nvmePath: string | null = null,
): Record<string, unknown> {
  const c = gptTrainingConfig({ ...o, stage: m.stage });
  if (!m.offload) return c;
  const zero = c.zero_optimization as Record<string, unknown>;
  if (m.nvme === true && nvmePath === null)
    throw new ConfigError(`${m.label} needs a folder for its swap files (nvme_path); none was given`, 'nvme_path');
  zero.offload_optimizer = m.nvme === true ? { device: 'nvme', nvme_path: nvmePath } : { device: 'cpu' };
  zero.offload_param = { device: 'cpu' };
  return c;
}
