// optim/'s AdamW over a model's parameters one by one, each parameter its own fp32 shard (its data and gradient in
// place, zeroed m and v beside them), with no decay on 1-D parameters as GPT-2 trains: the optimizer the engine runs
// over flat shards, here without the engine, for the golden-value tests against torch.optim.AdamW.
import { AdamW, type AdamOptions } from '../../src/optim/index.js';
import type { ParamShard } from '../../src/optim/shard.js';
import type { Parameter } from '../../src/nn/parameter.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { gptNoDecay } from '../../src/nn/gpt.js';

export interface ParamAdamW {
  step(): void;
  dispose(): void;
}

export function paramAdamW(params: readonly Parameter[], opts: AdamOptions): ParamAdamW {
  const opt = new AdamW(opts);
  const state: Tensor[] = [];
  const shard = (p: Parameter): ParamShard => {
    const zeros = (what: string) => {
      const t = Tensor.zeros(p.device, p.shape, { dtype: 'f32', category: 'optimizer', label: `${p.name}.${what}` });
      state.push(t);
      return t.ptr;
    };
    return {
      name: p.name,
      memory: p.device,
      n: p.numel,
      param: p.value().ptr,
      get grad() {
        return p.grad!.ptr;
      },
      state: { m: zeros('exp_avg'), v: zeros('exp_avg_sq') },
      ...(gptNoDecay(p.name, p.shape) ? { weightDecay: 0 } : {}),
    };
  };
  const shards = params.map(shard);
  return {
    step: () => opt.step(shards),
    dispose: () => {
      for (const t of state) t.dispose();
    },
  };
}
