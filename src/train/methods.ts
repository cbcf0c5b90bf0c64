// The five methods of the classic experiment (Hugging Face, "Accelerate Large Model Training using DeepSpeed"):
// data parallelism (ZeRO stage 0: every rank keeps every model state), ZeRO-1, -2, -3, and ZeRO-3 with the optimizer
// state and the parameter shards offloaded to host memory. Each is the project's GPT training config
// (configs.ts) with the stage and the offload keys changed: nothing else differs between them.
import { gptTrainingConfig, type GptConfigOptions, type StageNumber } from './configs.js';

export type MethodKey = 'ddp' | 'zero1' | 'zero2' | 'zero3' | 'zero3_offload';

export interface Method {
  key: MethodKey;
  label: string;
  stage: StageNumber;
  /** offload_optimizer and offload_param "cpu" (stage 3). */
  offload: boolean;
}

export const METHODS: readonly Method[] = [
  { key: 'ddp', label: 'DDP', stage: 0, offload: false },
  { key: 'zero1', label: 'ZeRO-1', stage: 1, offload: false },
  { key: 'zero2', label: 'ZeRO-2', stage: 2, offload: false },
  { key: 'zero3', label: 'ZeRO-3', stage: 3, offload: false },
  { key: 'zero3_offload', label: 'ZeRO-3 + offload', stage: 3, offload: true },
];

/** The method's DeepSpeed JSON: gptTrainingConfig at its stage, plus CPU offload of optimizer and parameters. */
export function methodConfig(m: Method, o: Omit<GptConfigOptions, 'stage'>): Record<string, unknown> {
  const c = gptTrainingConfig({ ...o, stage: m.stage });
  if (!m.offload) return c;
  const zero = c.zero_optimization as Record<string, unknown>;
  zero.offload_optimizer = { device: 'cpu' };
  zero.offload_param = { device: 'cpu' };
  return c;
}
