// optim/'s AdamW over a model's parameters one by one, each parameter its own fp32 shard (its data and gradient in
// place, zeroed m and v beside them), with no decay on 1-D parameters as GPT-2 trains: the optimizer the engine runs
// over flat shards, here without the engine, for the golden-value tests against torch.optim.AdamW.
import { AdamW, type AdamOptions } from '../../src/optim/index.js';
import type { ParamShard } from '../../src/optim/shard.js';
import type { Parameter } from '../../src/nn/parameter.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { gptNoDecay } from '../../src/nn/gpt.js';

export interface ParamAdamW {
  /** One AdamW step over every parameter, the gradients multiplied by gradScale (clipping). */
  step(gradScale?: number): void;
  /** Adam's m and v by parameter name (copies). */
  moments(): { m: Record<string, Float32Array>; v: Record<string, Float32Array> };
  dispose(): void;
}

export function paramAdamW(params: readonly Parameter[], opts: AdamOptions): ParamAdamW {
  const opt = new AdamW(opts);
  const zeros = (p: Parameter, what: string) =>
    Tensor.zeros(p.device, p.shape, { dtype: 'f32', category: 'optimizer', label: `${p.name}.${what}` });
  const m = params.map((p) => zeros(p, 'exp_avg'));
  const v = params.map((p) => zeros(p, 'exp_avg_sq'));
  const shards: ParamShard[] = params.map((p, i) => ({
    name: p.name,
    memory: p.device,
    n: p.numel,
    param: p.value().ptr,
    get grad() {
      return p.grad!.ptr;
    },
    state: { m: m[i]!.ptr, v: v[i]!.ptr },
    ...(gptNoDecay(p.name, p.shape) ? { weightDecay: 0 } : {}),
  }));
  const byName = (ts: Tensor[]) => Object.fromEntries(params.map((p, i) => [p.name, ts[i]!.f32().slice()]));
  return {
    step: (gradScale = 1) => opt.step(shards, { gradScale }),
    moments: () => ({ m: byName(m), v: byName(v) }),
    dispose: () => {
      for (const t of [...m, ...v]) t.dispose();
    },
  };
}
